"""The drivers are optional extras: importing spoc_asgi must not import any of them."""

from __future__ import annotations

import subprocess
import sys

DRIVERS = ("sqlalchemy", "redis", "asyncpg", "aiosqlite")


def imported_after(statement: str) -> list[str]:
    code = f"import sys; {statement}; print(' '.join(m for m in {DRIVERS!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def test_importing_spoc_asgi_imports_no_driver() -> None:
    statement = "import spoc_asgi, spoc_asgi.backends, spoc_asgi.backends.memory"
    assert imported_after(statement) == []


def test_the_redis_backend_imports_only_redis() -> None:
    assert imported_after("import spoc_asgi.backends.redis") == ["redis"]


def test_the_sql_backend_imports_no_cache_or_postgres_driver() -> None:
    assert imported_after("import spoc_asgi.backends.sql") == ["sqlalchemy"]
