"""What only MemoryCache does: LRU bounds, its options, its repr."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from spoc_asgi.backends.memory import MemoryCache


async def test_max_size_evicts_the_least_recently_used_key() -> None:
    cache = MemoryCache(max_size=3)
    await cache.set_many({"a": 1, "b": 2, "c": 3})
    assert await cache.get("a") == 1  # a is now the most recently used
    await cache.set("d", 4)
    assert await cache.get_many(["a", "b", "c", "d"]) == {"a": 1, "c": 3, "d": 4}
    assert len(cache) == 3


async def test_incr_counts_as_a_use() -> None:
    cache = MemoryCache(max_size=2)
    await cache.incr("counter")
    await cache.set("b", 2)
    await cache.incr("counter")
    await cache.set("c", 3)
    assert await cache.get_many(["counter", "b", "c"]) == {"counter": 2, "c": 3}


async def test_expired_entries_are_dropped_when_read() -> None:
    cache = MemoryCache()
    await cache.set("key", "value", ttl=0.1)
    await asyncio.sleep(0.2)
    assert await cache.delete("key") is False
    assert len(cache) == 0


async def test_disconnect_drops_the_data() -> None:
    cache = MemoryCache()
    await cache.connect()
    await cache.set("key", "value")
    await cache.disconnect()
    assert await cache.get("key") is None


async def test_the_prefix_is_part_of_the_stored_key() -> None:
    cache = MemoryCache(prefix="app:")
    await cache.set("key", 1)
    assert list(cache._entries) == ["app:key"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_size": 0}, "max_size must be a positive integer"),
        ({"max_size": "10"}, "max_size must be a positive integer"),
        ({"max_size": True}, "max_size must be a positive integer"),
        ({"default_ttl": 0}, "default_ttl must be a positive number"),
        ({"default_ttl": "60"}, "default_ttl must be a positive number"),
        ({"prefix": 1}, "prefix must be a string"),
    ],
)
def test_bad_options_are_rejected_when_built(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        MemoryCache(**options)
    assert isinstance(raised.value, TypeError)  # the plugin loader reports it as spoc.E021


def test_unknown_options_are_rejected() -> None:
    with pytest.raises(TypeError, match="max_entries"):
        MemoryCache(max_entries=10)  # type: ignore[call-arg]


def test_repr() -> None:
    assert repr(MemoryCache(max_size=5, prefix="p:")) == "MemoryCache(max_size=5, prefix='p:')"
