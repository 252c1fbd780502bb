"""Shared fixtures: throwaway projects on disk, and the real services the backend tests use."""

from __future__ import annotations

import importlib
import itertools
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

_counter = itertools.count()


@dataclass
class Project:
    """A base dir under tmp_path, with helpers to write its files and plugin modules."""

    base_dir: Path
    modules: list[str] = field(default_factory=list)

    def toml(self, text: str, where: str = "config/spoc.toml") -> Path:
        return self._write(where, text)

    def settings(self, text: str, where: str = "config/settings.py") -> Path:
        return self._write(where, text)

    def module(self, source: str, name: str | None = None) -> str:
        """Write an importable module; return its (unique) dotted name."""
        name = name or f"spoc_test_plugins_{os.getpid()}_{next(_counter)}"
        self._write(f"{name.replace('.', '/')}.py", source)
        self.modules.append(name)
        return name

    def _write(self, relative: str, text: str) -> Path:
        path = self.base_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    base = tmp_path / "project"
    base.mkdir()
    monkeypatch.syspath_prepend(str(base))
    created = Project(base)
    yield created
    for name in list(sys.modules):
        if any(name == m or name.startswith(m + ".") for m in created.modules):
            del sys.modules[name]


@pytest.fixture(autouse=True)
def _clean_spoc_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # SPOC_MODE / SPOC_DEBUG in the caller's shell must not leak into tests.
    monkeypatch.delenv("SPOC_MODE", raising=False)
    monkeypatch.delenv("SPOC_DEBUG", raising=False)


# -- real services ----------------------------------------------------------------------

POSTGRES_URL = os.environ.get(
    "SPOC_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("SPOC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a service is down, except in CI (SPOC_REQUIRE_SERVICES=1): then fail."""
    if port_open(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("SPOC_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} and SPOC_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> str:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return POSTGRES_URL


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL


# Starlette 1.x warns with its own category (not a DeprecationWarning); 0.x with DeprecationWarning.
STARLETTE_DEPRECATION: type[Warning] = getattr(
    importlib.import_module("starlette.exceptions"),
    "StarletteDeprecationWarning",
    DeprecationWarning,
)


ANYIO_PORTAL_ALIAS = "The anyio.abc.BlockingPortal alias is deprecated"


def warnings_as_errors() -> list[str]:
    """pytest arguments that make warnings errors, but for the one that Starlette's own
    ``starlette.testclient`` raises at import with anyio 4.12+ (before Starlette 1.x)."""
    done = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", "import starlette.testclient"],
        capture_output=True,
        text=True,
    )
    if done.returncode == 0:
        return ["-W", "error"]
    assert ANYIO_PORTAL_ALIAS in done.stderr, done.stderr
    return ["-W", "error", "-W", f"ignore:{ANYIO_PORTAL_ALIAS}:DeprecationWarning"]
