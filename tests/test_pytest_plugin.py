"""The pytest plugin (entry point ``pytest11``): fixtures, markers, options, missing extra.

Each test writes a small project and runs pytest on it in a subprocess, as a user's
suite runs: the plugin is found through the installed package's entry point.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import warnings_as_errors

pytestmark = pytest.mark.slow

VIEWS = """
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def kinds(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "database": type(request.state.database).__name__,
            "url": request.state.database.display_url,
            "cache": type(request.state.cache).__name__,
            "hits": await request.state.cache.incr("hits"),
        }
    )


routes = [Route("/", kinds)]
"""

# Configured for servers that are not there: only overridden backends can start.
UNREACHABLE = """
[spoc.plugins]
database = ["spoc_asgi.backends.sql.SQLDatabase"]
cache = ["spoc_asgi.backends.redis.RedisCache"]
routes = ["plugin_views.routes"]
"""

SETTINGS = """
DATABASE_CONFIG = {"sql": {"url": "postgresql+asyncpg://u@127.0.0.1:9/x", "connect_timeout": 2}}
CACHE_CONFIG = {"redis": {"url": "redis://127.0.0.1:9/0", "connect_timeout": 2}}
"""


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def run_pytest(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPOC_", "PYTEST_"))}
    command = [sys.executable, "-m", "pytest", "-q", *warnings_as_errors()]
    return subprocess.run(
        [*command, "-p", "no:cacheprovider", *args],
        cwd=root,
        env={**env, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    """A project under app/ (found through the ini option) and its tests beside it."""
    write(
        tmp_path,
        {
            "pyproject.toml": """
                [tool.pytest.ini_options]
                asyncio_mode = "auto"
                asyncio_default_fixture_loop_scope = "function"
                pythonpath = ["app"]
                spoc_base_dir = "app"
            """,
            "app/config/spoc.toml": UNREACHABLE,
            "app/config/settings.py": SETTINGS,
            "app/plugin_views.py": VIEWS,
        },
    )
    return tmp_path


def test_fixtures_and_markers_run_the_app_on_in_process_backends(suite: Path) -> None:
    write(
        suite,
        {
            "tests/test_app.py": """
                import httpx
                import pytest
                from starlette.testclient import TestClient

                import spoc_asgi
                from spoc_asgi.backends.memory import MemoryCache


                @pytest.mark.spoc_memory
                async def test_async_client(spoc_client: httpx.AsyncClient) -> None:
                    body = (await spoc_client.get("/")).json()
                    assert body["database"] == "SQLDatabase"
                    assert body["url"] == "sqlite+aiosqlite://"
                    assert body["cache"] == "MemoryCache"
                    assert body["hits"] == 1


                @pytest.mark.spoc_memory
                async def test_started_app_and_client_share_one_lifespan(
                    spoc_started_app, spoc_client: httpx.AsyncClient
                ) -> None:
                    await spoc_asgi.cache(spoc_started_app).set("hits", 41)
                    assert (await spoc_client.get("/")).json()["hits"] == 42


                @pytest.mark.spoc_memory
                def test_sync_test_client(spoc_test_client: TestClient) -> None:
                    assert spoc_test_client.get("/").json()["hits"] == 1


                @pytest.mark.spoc_memory
                @pytest.mark.spoc_overrides(cache=MemoryCache(prefix="marked:"))
                async def test_overrides_marker_applies_after_memory(spoc_started_app) -> None:
                    assert spoc_asgi.cache(spoc_started_app).prefix == "marked:"
            """,
            "tests/test_unmarked.py": """
                async def test_without_a_marker_the_configured_servers_are_used(
                    spoc_client,
                ) -> None:
                    raise AssertionError("the configured servers are not there")
            """,
        },
    )
    done = run_pytest(suite)
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"\b4 passed, 1 error\b", done.stdout), done.stdout
    # The unmarked test's app started on its configuration, and failed to connect.
    assert "ERROR at setup of test_without_a_marker_the_configured_servers_are_used" in done.stdout
    assert "127.0.0.1:9" in done.stdout


def test_a_conftest_fixture_overrides_the_plugin_one(suite: Path) -> None:
    write(
        suite,
        {
            "conftest.py": """
                import pytest

                from spoc_asgi.testing import memory_backends


                @pytest.fixture
                def spoc_overrides(spoc_app):
                    return memory_backends(spoc_app)
            """,
            "tests/test_app.py": """
                async def test_every_test_runs_in_memory(spoc_client) -> None:
                    assert (await spoc_client.get("/")).json()["cache"] == "MemoryCache"
            """,
        },
    )
    done = run_pytest(suite)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b1 passed\b", done.stdout), done.stdout


def test_the_plugin_is_registered_through_the_entry_point(suite: Path) -> None:
    done = run_pytest(suite, "--markers")
    assert done.returncode == 0, done.stderr
    assert "@pytest.mark.spoc_memory:" in done.stdout
    done = run_pytest(suite, "--fixtures")
    for name in ("spoc_app", "spoc_client", "spoc_test_client", "spoc_started_app"):
        assert re.search(rf"^{name}\b", done.stdout, re.M), name


def test_without_the_testing_extra_the_error_names_the_pip_command() -> None:
    code = "import sys; sys.modules['httpx'] = None; import spoc_asgi.testing"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1
    assert (
        "ImportError: spoc_asgi.testing needs the testing extra (httpx is missing): "
        'pip install "spoc_asgi[testing]"'
    ) in done.stderr
