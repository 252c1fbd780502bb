"""What only RedisCache does: its keyspace on the server, options, repr and not-connected use."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from spoc_asgi.backends.redis import RedisCache
from spoc_asgi.errors import BackendNotReadyError
from tests.backends.conftest import CacheFactory, unique

pytestmark = pytest.mark.redis


@pytest.fixture
def cache_kind() -> str:
    return "redis"


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Redis]:
    """A plain client, to look at the server behind the cache's back."""
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_keys_are_stored_as_prefixed_json(cache: Any, raw: Redis) -> None:
    await cache.set("key", {"a": [1, "é"]})
    assert await raw.get(f"{cache.prefix}key") == '{"a":[1,"é"]}'.encode()


async def test_ttl_is_set_on_the_server(cache: Any, raw: Redis) -> None:
    await cache.set("key", 1, ttl=30)
    assert 0 < await raw.pttl(f"{cache.prefix}key") <= 30_000
    await cache.set("forever", 1)
    assert await raw.pttl(f"{cache.prefix}forever") == -1


async def test_clear_leaves_keys_outside_the_prefix(cache: Any, raw: Redis) -> None:
    outside = unique("outside")
    await raw.set(outside, "keep")
    try:
        await cache.set("inside", 1)
        await cache.clear()
        assert await raw.get(outside) == b"keep"
        assert await raw.exists(f"{cache.prefix}inside") == 0
    finally:
        await raw.delete(outside)


async def test_a_prefix_with_glob_characters_matches_only_itself(
    make_cache: CacheFactory, raw: Redis
) -> None:
    base = unique("glob")
    cache = await make_cache(prefix=f"{base}[x]*:")
    lookalike = f"{base}x-anything:key"  # what the unescaped pattern "[x]*" would match
    await raw.set(lookalike, "keep")
    try:
        await cache.set("key", 1)
        await cache.clear()
        assert await raw.get(lookalike) == b"keep"
        assert await cache.get("key") is None
    finally:
        await raw.delete(lookalike)


async def test_using_it_before_connect_is_a_clear_error(redis_url: str) -> None:
    cache = RedisCache(url=redis_url)
    with pytest.raises(BackendNotReadyError, match="not connected"):
        await cache.get("key")
    with pytest.raises(BackendNotReadyError):
        await cache.incr("key")


async def test_connect_twice_and_disconnect_twice_are_harmless(redis_url: str) -> None:
    cache = RedisCache(url=redis_url, prefix=unique("twice") + ":")
    await cache.connect()
    await cache.connect()
    assert await cache.ping()
    await cache.disconnect()
    await cache.disconnect()
    with pytest.raises(BackendNotReadyError):
        await cache.ping()


async def test_max_connections_caps_the_connections_a_burst_opens(
    redis_url: str, raw: Redis
) -> None:
    name = unique("capped")
    separator = "&" if "?" in redis_url else "?"
    cache = RedisCache(
        url=f"{redis_url}{separator}client_name={name}", prefix=name + ":", max_connections=3
    )
    await cache.connect()
    try:
        # Far more calls than connections: they wait for one another instead of failing.
        results = await asyncio.gather(*(cache.incr("hits") for _ in range(60)))
        assert sorted(results) == list(range(1, 61))
        clients = [client for client in await raw.client_list() if client["name"] == name]
        assert 1 <= len(clients) <= 3
    finally:
        await cache.clear()
        await cache.disconnect()


def test_repr_hides_the_password() -> None:
    cache = RedisCache(url="redis://user:s3cret@cache.example:6380/2", prefix="app:")
    assert "s3cret" not in repr(cache)
    assert repr(cache) == (
        "RedisCache(url='redis://user:***@cache.example:6380/2', prefix='app:', on_error='raise')"
    )
    assert "s3cret" not in repr(RedisCache(url="redis://:s3cret@cache.example/0"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "http://user:s3cret@host/0"}, "is not a Redis URL"),
        ({"url": 6379}, "url must be a string"),
        ({"on_error": "explode"}, "on_error must be one of 'raise', 'ignore'"),
        ({"connect_timeout": 0}, "connect_timeout must be a positive number"),
        ({"socket_timeout": None}, "socket_timeout must be a positive number"),
        ({"retries": -1}, "retries must be an integer >= 0"),
        ({"max_connections": 0}, "max_connections must be a positive integer"),
        ({"pool_timeout": 0}, "pool_timeout must be a positive number"),
        ({"default_ttl": -5}, "default_ttl must be a positive number"),
    ],
)
def test_bad_options_are_rejected_when_built(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        RedisCache(**options)
    assert isinstance(raised.value, TypeError)  # the plugin loader reports it as spoc.E021
    assert "s3cret" not in str(raised.value)
