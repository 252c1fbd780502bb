"""The example app, in process: every plugin group it configures, through real requests.

Each test builds its own app (``create_app`` on the example's base dir, or on a copy
of its config with extra settings) with its SQLite file under ``tmp_path``, so no
state is shared. The rate limiter's clock is set by the tests, never waited on.
"""

from __future__ import annotations

import hmac
import logging
import math
import re
import shutil
import textwrap
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

import example_app
import spoc_asgi
from example_app import hooks as example_hooks
from example_app import ratelimit
from spoc_asgi import create_app
from spoc_asgi.backends.sql import SQLDatabase
from spoc_asgi.testing import lifespan_client

EXAMPLE_DIR = Path(example_app.__file__).resolve().parent
KEY_ONE, KEY_TWO = "key-one-7f1c", "key-two-9a2d"
ORIGIN = "http://localhost:3000"

MakeApp = Callable[..., Starlette]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The configure_logging hook sets up process-wide loggers; undo it for other tests."""
    loggers = [logging.getLogger(name) for name in ("example_app", "spoc_asgi")]
    saved = [(log.level, list(log.handlers), log.propagate) for log in loggers]
    yield
    for log, (level, handlers, propagate) in zip(loggers, saved, strict=True):
        log.setLevel(level)
        log.handlers[:] = handlers
        log.propagate = propagate


@pytest.fixture
def make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MakeApp:
    """Build an example app; ``settings`` is Python appended to a copy of settings.py."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/notes.sqlite3")
    monkeypatch.setenv("EXAMPLE_API_KEYS", f"{KEY_ONE}, {KEY_TWO}")
    monkeypatch.delenv("REDIS_URL", raising=False)

    def make(settings: str = "") -> Starlette:
        if not settings:
            return create_app(EXAMPLE_DIR)
        base = tmp_path / f"base-{uuid.uuid4().hex[:8]}"
        shutil.copytree(EXAMPLE_DIR / "config", base / "config")
        with (base / "config" / "settings.py").open("a", encoding="utf-8") as file:
            file.write("\n" + textwrap.dedent(settings))
        return create_app(base)

    return make


@pytest.fixture
def spoc_app(make_app: MakeApp) -> Starlette:
    """The pytest plugin's app fixture (docs/testing.md): the example, as configured."""
    return make_app()


@pytest.fixture
def client(spoc_client: httpx.AsyncClient) -> httpx.AsyncClient:
    return spoc_client


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """The rate limiter's clock, set 10 s into a 60 s window."""
    frozen = Clock(1_800_000_010.0)
    monkeypatch.setattr(ratelimit, "now", lambda: frozen.now)
    yield frozen


def limited(max_requests: int, window_seconds: int = 60) -> str:
    return (
        f'MIDDLEWARE_CONFIG["ratelimit"] = '
        f'{{"max_requests": {max_requests}, "window_seconds": {window_seconds}, '
        f'"exempt_paths": ["/health"]}}'
    )


# -- service endpoints -------------------------------------------------------------------


async def test_index_reports_the_mode_and_every_loaded_group(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    body = response.json()
    assert body["service"] == "example_app"
    assert body["mode"] == "development"
    assert set(body["plugins"]) == {
        "middleware",
        "hooks",
        "validators",
        "routes",
        "database",
        "cache",
    }
    # TOML entries first, then the rate limiter from settings.py: it is the innermost.
    assert body["plugins"]["middleware"][0] == "example_app.middleware.RequestIdMiddleware"
    assert body["plugins"]["middleware"][-1] == "example_app.ratelimit.RateLimiter"
    assert body["plugins"]["cache"] == ["spoc_asgi.backends.memory.MemoryCache"]


@pytest.mark.spoc_memory
async def test_in_memory_backends_serve_the_same_app(
    spoc_started_app: Starlette, client: httpx.AsyncClient
) -> None:
    db = spoc_asgi.database(spoc_started_app)
    assert db.display_url == "sqlite+aiosqlite://"
    assert type(spoc_asgi.cache(spoc_started_app)).__name__ == "MemoryCache"
    assert (await client.get("/health")).status_code == 200


async def test_health_pings_the_database_and_the_cache(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": True, "cache": True}}


async def test_slow_refuses_long_or_odd_durations(client: httpx.AsyncClient) -> None:
    for seconds in ("60", "-1", "nan", "soon"):
        response = await client.get("/slow", params={"seconds": seconds})
        assert response.status_code == 400, seconds
    response = await client.get("/slow", params={"seconds": "0"})
    assert response.status_code == 200
    assert response.json() == {"slept": 0.0}


# -- request id, timing, logging --------------------------------------------------------


async def test_a_request_id_is_made_when_none_is_sent(client: httpx.AsyncClient) -> None:
    first, second = await client.get("/"), await client.get("/")
    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    # The endpoint sees the same id through request.state.
    assert first.json()["request_id"] == first.headers["X-Request-ID"]


async def test_an_incoming_request_id_is_reused_and_logged(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="example_app")
    response = await client.get("/health", headers={"X-Request-ID": "trace-42.a:b"})
    assert response.headers["X-Request-ID"] == "trace-42.a:b"
    # log_request, a later middleware, read it from the scope's state.
    assert any(
        "GET /health" in record.getMessage() and "trace-42.a:b" in record.getMessage()
        for record in caplog.records
    )


@pytest.mark.parametrize("sent", ["two words", "x" * 129, "semi;colon", ""])
async def test_an_unsafe_request_id_is_replaced(client: httpx.AsyncClient, sent: str) -> None:
    response = await client.get("/", headers={"X-Request-ID": sent})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


async def test_every_response_carries_server_timing(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/"), await client.post("/notes", json={"title": "x"})):
        assert re.fullmatch(r"app;dur=\d+\.\d", response.headers["Server-Timing"])


# -- CORS -----------------------------------------------------------------------------------


async def test_a_cors_preflight_is_answered_without_an_api_key(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options(
        "/notes",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-api-key",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "x-api-key" in response.headers["Access-Control-Allow-Headers"].lower()
    assert response.headers["Access-Control-Max-Age"] == "600"
    assert "X-Request-ID" in response.headers  # outer middleware still ran


async def test_a_cors_preflight_from_an_unknown_origin_is_refused(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options(
        "/notes",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 400
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_a_simple_cors_request_exposes_the_example_headers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/", headers={"Origin": ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    exposed = {
        name.strip() for name in response.headers["Access-Control-Expose-Headers"].split(",")
    }
    assert {"X-Request-ID", "Server-Timing", "X-RateLimit-Remaining"} <= exposed
    # CORS is outside auth, so a refusal is readable by the browser too.
    refused = await client.post("/notes", json={"title": "x"}, headers={"Origin": ORIGIN})
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == ORIGIN


# -- API key auth ---------------------------------------------------------------------------


async def test_writes_need_an_api_key(client: httpx.AsyncClient) -> None:
    missing = await client.post("/notes", json={"title": "x"})
    wrong = await client.post("/notes", json={"title": "x"}, headers={"X-API-Key": "nope"})
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
        assert response.headers["WWW-Authenticate"] == 'ApiKey header="X-API-Key"'
    for key in (KEY_ONE, KEY_TWO):
        created = await client.post("/notes", json={"title": "x"}, headers={"X-API-Key": key})
        assert created.status_code == 201


async def test_reads_need_no_key_but_a_sent_key_must_be_valid(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/notes")).status_code == 200
    assert (await client.get("/notes", headers={"X-API-Key": KEY_ONE})).status_code == 200
    assert (await client.get("/notes", headers={"X-API-Key": "nope"})).status_code == 401


async def test_the_key_check_is_constant_time(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return bool(real(a, b))

    monkeypatch.setattr(hmac, "compare_digest", spy)  # as example_app.middleware calls it
    response = await client.post("/notes", json={"title": "x"}, headers={"X-API-Key": KEY_ONE})
    assert response.status_code == 201
    # The first key matched, yet both were compared; and digests of equal length
    # were compared, not the keys, so a key's length does not leak either.
    assert len(compared) == 2
    assert {len(a) for a, _ in compared} == {len(b) for _, b in compared} == {32}


async def test_without_keys_in_production_writes_are_refused(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOC_MODE", "production")
    monkeypatch.delenv("EXAMPLE_API_KEYS")
    async with lifespan_client(make_app()) as client:
        response = await client.post(
            "/notes", json={"title": "x"}, headers={"X-API-Key": "dev-key"}
        )
    assert response.status_code == 401


async def test_in_development_the_dev_key_works_without_configured_keys(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EXAMPLE_API_KEYS")
    async with lifespan_client(make_app()) as client:
        response = await client.post(
            "/notes", json={"title": "x"}, headers={"X-API-Key": "dev-key"}
        )
    assert response.status_code == 201


# -- validators -------------------------------------------------------------------------------

CONTACT = {"name": "Ada", "email": "ada@example.com", "phone": "+1-555-123-4567"}


async def test_contacts_are_checked_by_the_validators_group(
    client: httpx.AsyncClient,
) -> None:
    headers = {"X-API-Key": KEY_ONE}
    bad = {"name": " ", "email": "ada@", "phone": "+44 20 7946 0958"}
    response = await client.post("/contacts", json=bad, headers=headers)
    assert response.status_code == 422
    assert response.json() == {
        "errors": {
            "name": "must not be empty",
            "email": "is not a valid email",
            "phone": "is not a valid phone",  # the TOML sets country_code = "+1"
        }
    }
    response = await client.post("/contacts", json=CONTACT, headers=headers)
    assert response.status_code == 201
    assert response.json() == {"id": 1, **CONTACT}


async def test_contact_without_phone_and_bad_bodies(client: httpx.AsyncClient) -> None:
    headers = {"X-API-Key": KEY_ONE}
    response = await client.post("/contacts", json={**CONTACT, "phone": None}, headers=headers)
    assert response.status_code == 201
    assert response.json()["phone"] is None
    response = await client.post("/contacts", json={"name": "Ada"}, headers=headers)
    assert response.status_code == 422
    assert response.json() == {"errors": {"email": "is required"}}
    response = await client.post("/contacts", content=b"{not json", headers=headers)
    assert response.status_code == 400


async def test_validator_options_come_from_settings(make_app: MakeApp) -> None:
    app = make_app('VALIDATORS_CONFIG = {"email": {"domain_whitelist": ["example.org"]}}')
    headers = {"X-API-Key": KEY_ONE}
    async with lifespan_client(app) as client:
        refused = await client.post("/contacts", json=CONTACT, headers=headers)
        accepted = await client.post(
            "/contacts", json={**CONTACT, "email": "ada@example.org"}, headers=headers
        )
    assert refused.status_code == 422
    assert refused.json() == {"errors": {"email": "is not a valid email"}}
    assert accepted.status_code == 201


# -- notes, read through the cache -------------------------------------------------------


async def test_notes_crud_with_a_read_through_cache(make_app: MakeApp) -> None:
    app = make_app()
    headers = {"X-API-Key": KEY_ONE}
    async with lifespan_client(app) as client:
        created = await client.post(
            "/notes", json={"title": "first", "body": "hello"}, headers=headers
        )
        assert created.status_code == 201
        note = created.json()
        assert note == {"id": note["id"], "title": "first", "body": "hello"}
        url = f"/notes/{note['id']}"
        cache, database = app.state.cache, app.state.database

        listed = await client.get("/notes")
        assert listed.json() == {"notes": [note]}

        miss = await client.get(url)
        assert (miss.status_code, miss.headers["X-Cache"], miss.json()) == (200, "miss", note)
        assert await cache.get(f"notes:{note['id']}") == note

        # Change the row behind the app's back: a hit is served from the cache alone.
        await database.execute("UPDATE notes SET title = 'changed' WHERE id = :id", note)
        hit = await client.get(url)
        assert (hit.headers["X-Cache"], hit.json()) == ("hit", note)

        updated = await client.put(url, json={"title": "second", "body": ""}, headers=headers)
        assert updated.status_code == 200
        assert await cache.get(f"notes:{note['id']}") is None  # invalidated
        after_update = await client.get(url)
        assert after_update.headers["X-Cache"] == "miss"
        assert after_update.json() == {"id": note["id"], "title": "second", "body": ""}

        deleted = await client.delete(url, headers=headers)
        assert deleted.status_code == 204
        assert await cache.get(f"notes:{note['id']}") is None
        assert (await client.get(url)).status_code == 404
        assert (await client.delete(url, headers=headers)).status_code == 404
        assert (await client.get("/notes")).json() == {"notes": []}


async def test_missing_notes_and_bad_note_bodies(client: httpx.AsyncClient) -> None:
    headers = {"X-API-Key": KEY_ONE}
    assert (await client.get("/notes/999")).status_code == 404
    assert (await client.put("/notes/999", json={"title": "x"}, headers=headers)).status_code == 404
    assert (await client.get("/notes/abc")).status_code == 404  # {note_id:int} does not match
    untitled = await client.post("/notes", json={"body": "no title"}, headers=headers)
    assert untitled.status_code == 422
    assert untitled.json() == {"errors": {"title": "is required"}}
    wrong_type = await client.post("/notes", json={"title": 5, "body": []}, headers=headers)
    assert wrong_type.json() == {
        "errors": {"title": "must be a string", "body": "must be a string"}
    }
    not_an_object = await client.post("/notes", json=["title"], headers=headers)
    assert not_an_object.status_code == 400


async def test_hostile_inputs_get_4xx_not_500(client: httpx.AsyncClient) -> None:
    headers = {"X-API-Key": KEY_ONE, "Content-Type": "application/json"}
    huge = "99999999999999999999"
    assert (await client.get(f"/notes/{huge}")).status_code == 404
    put = await client.put(f"/notes/{huge}", json={"title": "x"}, headers=headers)
    assert put.status_code == 404
    assert (await client.delete(f"/notes/{huge}", headers=headers)).status_code == 404
    nested = "[" * 100_000 + "]" * 100_000
    deep = await client.post("/notes", content=nested, headers=headers)
    assert deep.status_code == 400
    assert deep.json() == {"errors": {"body": "is nested too deeply"}}
    surrogate = await client.post("/notes", content='{"title": "a\\ud800b"}', headers=headers)
    assert surrogate.status_code == 422
    assert "lone surrogates" in surrogate.json()["errors"]["title"]
    contact = await client.post(
        "/contacts", content='{"name": "\\udfff", "email": "a@b.c"}', headers=headers
    )
    assert contact.status_code == 422


async def test_the_cache_ttl_comes_from_settings(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app("NOTES_CACHE_TTL = 17")
    headers = {"X-API-Key": KEY_ONE}
    async with lifespan_client(app) as client:
        cache = app.state.cache
        ttls: list[float | None] = []
        real_set = cache.set

        async def recording_set(key: str, value: Any, ttl: float | None = None) -> None:
            ttls.append(ttl)
            await real_set(key, value, ttl=ttl)

        monkeypatch.setattr(cache, "set", recording_set)
        note = (await client.post("/notes", json={"title": "t"}, headers=headers)).json()
        await client.get(f"/notes/{note['id']}")
        assert (await client.get(f"/notes/{note['id']}")).headers["X-Cache"] == "hit"
    assert ttls == [17]


# -- rate limiting --------------------------------------------------------------------------


async def test_the_rate_limit_counts_per_client_and_refuses_with_429(
    make_app: MakeApp, clock: Clock
) -> None:
    reset = (int(clock.now // 60) + 1) * 60
    async with lifespan_client(make_app(limited(3))) as client:
        for remaining in (2, 1, 0):
            response = await client.get("/notes")
            assert response.status_code == 200
            assert response.headers["X-RateLimit-Limit"] == "3"
            assert response.headers["X-RateLimit-Remaining"] == str(remaining)
            assert response.headers["X-RateLimit-Reset"] == str(reset)
        refused = await client.get("/notes")
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert refused.headers["Retry-After"] == str(math.ceil(reset - clock.now))
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        assert "X-Request-ID" in refused.headers

        # Another client (known by its API key) has a count of its own.
        other = await client.get("/notes", headers={"X-API-Key": KEY_ONE})
        assert other.status_code == 200
        assert other.headers["X-RateLimit-Remaining"] == "2"

        # The next window starts afresh.
        clock.now = reset
        again = await client.get("/notes")
        assert again.status_code == 200
        assert again.headers["X-RateLimit-Remaining"] == "2"
        assert again.headers["X-RateLimit-Reset"] == str(reset + 60)


async def test_exempt_paths_are_not_counted(make_app: MakeApp, clock: Clock) -> None:
    async with lifespan_client(make_app(limited(1))) as client:
        for _ in range(3):
            response = await client.get("/health")
            assert response.status_code == 200
            assert "X-RateLimit-Limit" not in response.headers
        assert (await client.get("/")).status_code == 200
        assert (await client.get("/")).status_code == 429


async def test_the_limit_counts_in_the_cache(make_app: MakeApp, clock: Clock) -> None:
    app = make_app(limited(5))
    async with lifespan_client(app) as client:
        await client.get("/")
        await client.get("/")
        window = int(clock.now // 60)
        assert await app.state.cache.get(f"ratelimit:ip:127.0.0.1:{window}") == 2


async def test_bad_rate_limit_options_are_refused(make_app: MakeApp) -> None:
    # Starlette builds middleware when the app is first called, here for the lifespan;
    # whoever reports it (the lifespan runner now), the option's error is the cause.
    with pytest.raises(Exception) as caught:  # which type depends on the reporter
        app = make_app('MIDDLEWARE_CONFIG["ratelimit"] = {"max_requests": 0}')
        async with lifespan_client(app):
            pass
    chain: list[BaseException] = []
    error: BaseException | None = caught.value
    while error is not None:
        chain.append(error)
        error = error.__cause__
    assert any("max_requests must be a positive integer" in str(error) for error in chain)


# -- hooks --------------------------------------------------------------------------------


async def test_hooks_create_the_tables_and_log_at_shutdown(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="example_app")
    app = make_app()
    async with lifespan_client(app):
        tables = await app.state.database.fetch_all(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        )
        assert {"contacts", "notes"} <= {row["name"] for row in tables}
        assert example_hooks.SHUTDOWN_MESSAGE not in caplog.text
    assert example_hooks.SHUTDOWN_MESSAGE in caplog.text


# -- PostgreSQL and Redis, as in docker-compose ------------------------------------------


@pytest.fixture
async def postgres_schema(postgres_url: str) -> AsyncIterator[str]:
    """A schema of its own, so the example's tables never meet other tests' tables."""
    schema = f"example_app_{uuid.uuid4().hex[:10]}"
    admin = SQLDatabase(url=postgres_url)
    await admin.connect()
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        yield schema
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.disconnect()


@pytest.mark.postgres
@pytest.mark.redis
async def test_postgres_and_redis_backends_from_the_environment(
    make_app: MakeApp,
    monkeypatch: pytest.MonkeyPatch,
    postgres_url: str,
    redis_url: str,
    postgres_schema: str,
    clock: Clock,
) -> None:
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    prefix = f"example-test-{uuid.uuid4().hex[:10]}:"
    settings = f"""
        DATABASE_CONFIG["sql"]["connect_args"] = {{
            "server_settings": {{"search_path": "{postgres_schema}"}}
        }}
        CACHE_CONFIG["redis"]["prefix"] = "{prefix}"
        {limited(3)}
    """
    # Two apps on one Redis: two workers of one deployment.
    first, second = make_app(settings), make_app(settings)
    headers = {"X-API-Key": KEY_ONE}
    async with lifespan_client(first) as one, lifespan_client(second) as two:
        cache = first.state.cache
        try:
            assert (cache.prefix, cache.on_error) == (prefix, "ignore")
            assert first.state.database.url.get_backend_name() == "postgresql"
            assert (await one.get("/health")).json()["checks"] == {"database": True, "cache": True}

            note = (await one.post("/notes", json={"title": "pg"}, headers=headers)).json()
            assert (await one.get(f"/notes/{note['id']}")).headers["X-Cache"] == "miss"
            # The other worker reads the copy the first one cached.
            assert (await two.get(f"/notes/{note['id']}")).headers["X-Cache"] == "hit"
            assert (await two.delete(f"/notes/{note['id']}", headers=headers)).status_code == 204
            assert (await one.get(f"/notes/{note['id']}")).status_code == 404

            # One limit across both workers: the third request of this key is its last.
            assert (await two.get("/notes", headers=headers)).headers[
                "X-RateLimit-Remaining"
            ] == "0"
            assert (await one.get("/notes", headers=headers)).status_code == 429
        finally:
            await cache.clear()
