"""spoc_asgi.health: liveness and readiness answered in-process (the SIGTERM drain under
a real server is in tests/test_deployment_processes.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from spoc_asgi import ConfigurationError, create_app
from spoc_asgi.testing import lifespan_client
from tests.conftest import Project

BACKENDS = """
import anyio

STATE = {"answer": True}


class Flaky:
    async def connect(self):
        pass

    async def disconnect(self):
        pass

    async def ping(self):
        if STATE["answer"] == "hang":
            await anyio.sleep(60)
        if STATE["answer"] == "raise":
            raise ConnectionError("redis://:hunter2@10.0.0.5:6379 refused")
        return STATE["answer"]


class NoPing:
    def connect(self):
        pass

    def disconnect(self):
        pass
"""


@pytest.fixture
def app_and_state(project: Project) -> tuple[object, dict[str, object]]:
    module = project.module(BACKENDS)
    project.toml(
        f"""
        [spoc.health]
        ping_timeout = 0.2

        [spoc.plugins]
        routes = ["spoc_asgi.health.routes"]
        database = ["{module}.NoPing"]
        cache = ["{module}.Flaky"]
        """
    )
    app = create_app(project.base_dir)
    state = __import__(module).STATE
    return app, state


async def test_ready_only_while_every_backend_answers(
    app_and_state: tuple[object, dict[str, object]], project: Project
) -> None:
    app, state = app_and_state
    async with lifespan_client(app) as client:
        live = await client.get("/livez")
        assert (live.status_code, live.json()) == (200, {"status": "ok"})
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"] == "ready"
        assert set(ready.json()["checks"].values()) == {"ok", "no ping"}

        state["answer"] = False
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        (failing,) = ready.json()["failing"]
        assert failing.startswith("cache ") and failing.endswith(".Flaky")

        state["answer"] = "hang"
        began = time.monotonic()
        ready = await client.get("/readyz")
        assert time.monotonic() - began < 2  # bounded by ping_timeout (0.2 s)
        assert ready.status_code == 503
        assert ready.json()["checks"][failing] == "timeout"

        state["answer"] = "raise"
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert "hunter2" not in ready.text and "10.0.0.5" not in ready.text
        assert ready.json()["checks"][failing] == "failed"

        state["answer"] = True
        assert (await client.get("/readyz")).status_code == 200
        # Liveness never asked the backends.
        state["answer"] = "hang"
        assert (await client.get("/livez")).status_code == 200
        state["answer"] = True


async def test_not_ready_before_startup_and_from_the_first_moment_of_shutdown(
    app_and_state: tuple[object, dict[str, object]],
) -> None:
    app, _ = app_and_state
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as bare:
        before = await bare.get("/readyz")
        assert (before.status_code, before.json()["status"]) == (503, "starting")
        async with lifespan_client(app) as client:
            assert (await client.get("/readyz")).status_code == 200
        after = await bare.get("/readyz")
        assert (after.status_code, after.json()["status"]) == (503, "draining")
        assert (await bare.get("/livez")).status_code == 200


def test_health_options_are_checked(project: Project) -> None:
    project.toml(
        """
        [spoc.health]
        drain_seconds = -1

        [spoc.plugins]
        routes = ["spoc_asgi.health.routes"]
        """
    )
    with pytest.raises(ConfigurationError, match=r"spoc\.E053") as caught:
        create_app(project.base_dir)
    assert "spoc.toml:2 [spoc.health.drain_seconds]" in str(caught.value)


def test_a_bad_drain_environment_variable_is_e053_without_the_probes(tmp_path: Path) -> None:
    # In a fresh interpreter: an app without the probes does not import their module, and
    # the variable is still checked, as spoc-asgi check does.
    (tmp_path / "settings.py").write_text("PLUGINS = {'routes': []}\n", encoding="utf-8")
    code = f"from spoc_asgi import create_app; create_app({str(tmp_path)!r})"
    env = {**os.environ, "SPOC_DRAIN_SECONDS": "abc"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode != 0
    assert "spoc.E053" in done.stderr and "SPOC_DRAIN_SECONDS" in done.stderr
