"""Pick the coordinator: ``[spoc.coordination] backend``, else from the configured backends.

A PostgreSQL database gives PostgreSQL advisory locks, else a Redis cache gives
Redis locks, else file locks on this host. Mistakes are ``spoc.E051``.
"""

from __future__ import annotations

import importlib.util
import re
from typing import Any

from spoc_asgi.backends import Backends
from spoc_asgi.checks import CheckMessage, Reporter
from spoc_asgi.coordination.base import Coordinator
from spoc_asgi.coordination.file import FileCoordinator
from spoc_asgi.coordination.postgres import PostgresCoordinator
from spoc_asgi.coordination.redis import RedisCoordinator
from spoc_asgi.coordination.settings import CoordinationSettings, key_line
from spoc_asgi.redaction import redact_text

_POSTGRES_SCHEME = re.compile(r"^postgres(?:ql)?(?:\+\w+)?://")
_REDIS_SCHEME = re.compile(r"^(?:rediss?|unix)://")
_DRIVERS = {"postgres": ("asyncpg", "postgres"), "redis": ("redis", "redis")}


def postgres_dsn(url: str) -> str:
    """An asyncpg DSN from a SQLAlchemy URL or DSN (``postgresql+asyncpg://`` -> ``postgresql://``)."""
    return _POSTGRES_SCHEME.sub("postgresql://", url, count=1)


def database_dsn(backends: Backends) -> str | None:
    """The first PostgreSQL database's URL as an asyncpg DSN (password included)."""
    for _uri, backend in backends.groups.get("database", {}).items():
        url: Any = getattr(backend, "url", None)
        render = getattr(url, "render_as_string", None)
        text = render(hide_password=False) if callable(render) else url
        if isinstance(text, str) and _POSTGRES_SCHEME.match(text):
            return postgres_dsn(text)
    return None


def cache_url(backends: Backends) -> str | None:
    for _uri, backend in backends.groups.get("cache", {}).items():
        url = getattr(backend, "url", None)
        if isinstance(url, str) and _REDIS_SCHEME.match(url):
            return url
    return None


def choose(settings: CoordinationSettings, backends: Backends, reporter: Reporter) -> Coordinator:
    kind = settings.backend
    url = settings.url
    if url is not None:
        scheme = _scheme(url)
        if scheme is None or kind not in (None, "file", scheme):
            wanted = {
                None: "a postgresql:// or redis:// URL",
                "postgres": "a postgresql:// URL, as backend is 'postgres'",
                "redis": "a redis://, rediss:// or unix:// URL, as backend is 'redis'",
            }[kind]
            _error(settings, reporter, f"url must be {wanted}, not {redact_text(url)!r}", "url")
            return FileCoordinator(settings.directory)  # reported; only a collecting check
        kind = scheme if kind is None else kind
    if kind is None:
        if database_dsn(backends) is not None:
            kind = "postgres"
        elif cache_url(backends) is not None:
            kind = "redis"
        else:
            kind = "file"
    if kind == "file":
        return FileCoordinator(settings.directory)
    module, extra = _DRIVERS[kind]
    if importlib.util.find_spec(module) is None:
        _error(
            settings,
            reporter,
            f"coordination on {kind} needs {module}: pip install 'spoc_asgi[{extra}]'",
        )
    elif kind == "postgres":
        dsn = postgres_dsn(url) if url is not None else database_dsn(backends)
        if dsn is not None:
            return PostgresCoordinator(dsn, settings.lease_seconds)
        _error(
            settings,
            reporter,
            "backend is 'postgres', but no url is set and no database is PostgreSQL",
        )
    else:
        url = url if url is not None else cache_url(backends)
        if url is not None:
            return RedisCoordinator(url, settings.lease_seconds, settings.retry_seconds)
        _error(settings, reporter, "backend is 'redis', but no url is set and no cache is Redis")
    return FileCoordinator(settings.directory)  # reported above; only a collecting check gets here


def _scheme(url: str) -> str | None:
    """The engine a URL's scheme names, if any."""
    if _POSTGRES_SCHEME.match(url):
        return "postgres"
    return "redis" if _REDIS_SCHEME.match(url) else None


def _error(
    settings: CoordinationSettings, reporter: Reporter, message: str, name: str = "backend"
) -> None:
    line = key_line(settings.source, "spoc.coordination", name)
    key = f"spoc.coordination.{name}" if line is not None else "spoc.coordination"
    reporter.error(CheckMessage("spoc.E051", message, file=settings.source, key=key, line=line))
