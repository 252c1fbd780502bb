"""Project-wide fixtures. The spoc_asgi plugin brings spoc_app, spoc_client and the rest;
overriding one of them here changes it for every test."""

import pytest


@pytest.fixture(autouse=True)
def _no_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    # Point the configured servers nowhere: a test that forgets `spoc_memory` fails fast
    # instead of reaching a real database.
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://app@127.0.0.1:9/app")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")
