"""The cache contract (docs/backends.md), run against MemoryCache and a real Redis alike."""

from __future__ import annotations

import asyncio
import datetime
import enum
import math
from typing import Any

import pytest

from spoc_asgi.backends import Cache
from tests.backends.conftest import CacheFactory

JSON_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -17,
    2**62,
    1.5,
    -0.25,
    "",
    "plain",
    "unicode: é ✓ 中文 🚀",
    'quotes " and \\ backslash\nnewline',
    [],
    {},
    [1, "two", 3.0, None, True, [], {}],
    {"nested": {"list": [1, {"deep": ["x"]}], "empty": {}}, "n": None},
]


async def test_get_of_a_missing_key_returns_the_default(cache: Any) -> None:
    assert await cache.get("missing") is None
    assert await cache.get("missing", "fallback") == "fallback"


@pytest.mark.parametrize("value", JSON_VALUES, ids=repr)
async def test_every_json_type_round_trips(cache: Any, value: Any) -> None:
    await cache.set("key", value)
    got = await cache.get("key", "sentinel")
    assert got == value
    assert type(got) is type(value)


class Level(enum.IntEnum):
    HIGH = 3


class Name(str):
    pass


@pytest.mark.parametrize(
    ("value", "expected"),
    [(Level.HIGH, 3), (Name("ada"), "ada"), (True, True), (-0.0, -0.0), (2**70, 2**70)],
    ids=repr,
)
async def test_a_value_comes_back_as_its_json_type(cache: Any, value: Any, expected: Any) -> None:
    await cache.set("key", value)
    got = await cache.get("key")
    assert got == expected
    assert type(got) is type(expected)


async def test_incr_works_on_an_int_subclass_stored_with_set(cache: Any) -> None:
    await cache.set("counter", Level.HIGH)
    assert await cache.incr("counter") == 4
    assert type(await cache.get("counter")) is int


async def test_a_tuple_is_stored_as_a_json_array(cache: Any) -> None:
    await cache.set("key", (1, (2, 3)))
    assert await cache.get("key") == [1, [2, 3]]


async def test_a_stored_value_is_a_copy(cache: Any) -> None:
    value = {"items": [1, 2]}
    await cache.set("key", value)
    value["items"].append(3)
    first = await cache.get("key")
    first["items"].append(4)
    assert await cache.get("key") == {"items": [1, 2]}


@pytest.mark.parametrize(
    "value",
    [
        object(),
        b"bytes",
        {1, 2},
        datetime.date(2024, 1, 1),
        {1: "int key"},
        {"nested": {None: "null key"}},
        [float("nan")],
        math.inf,
    ],
    ids=repr,
)
async def test_non_json_values_are_rejected_at_set(cache: Any, value: Any) -> None:
    with pytest.raises(TypeError):
        await cache.set("key", value)
    assert await cache.get("key", "absent") == "absent"


async def test_a_circular_value_is_rejected_and_a_deep_one_kept(cache: Any) -> None:
    circular: dict[str, Any] = {"items": []}
    circular["items"].append(circular)
    with pytest.raises(TypeError):
        await cache.set("key", circular)
    assert await cache.get("key", "absent") == "absent"
    shared: dict[str, Any] = {"leaf": [1]}
    deep: list[Any] = []
    for _ in range(100):
        deep = [deep, shared]  # nested, with a part seen many times: not a cycle
    await cache.set("key", deep)
    assert await cache.get("key") == deep
    await cache.set("key", {"n": 1})  # the encoder is still fine after a failure
    assert await cache.get("key") == {"n": 1}


async def test_a_bad_value_in_set_many_writes_nothing(cache: Any) -> None:
    with pytest.raises(TypeError):
        await cache.set_many({"a": 1, "b": object(), "c": 3})
    assert await cache.get_many(["a", "b", "c"]) == {}


async def test_keys_must_be_strings(cache: Any) -> None:
    with pytest.raises(TypeError):
        await cache.set(1, "value")
    with pytest.raises(TypeError):
        await cache.get(b"key")


async def test_delete_says_whether_the_key_existed(cache: Any) -> None:
    await cache.set("key", "value")
    assert await cache.delete("key") is True
    assert await cache.get("key") is None
    assert await cache.delete("key") is False


async def test_get_many_returns_only_the_keys_found(cache: Any) -> None:
    await cache.set_many({"a": 1, "b": [2], "c": None})
    assert await cache.get_many(["a", "b", "c", "missing"]) == {"a": 1, "b": [2], "c": None}
    assert await cache.get_many([]) == {}
    assert await cache.get_many(iter(["a"])) == {"a": 1}


async def test_set_overwrites(cache: Any) -> None:
    await cache.set("key", "one")
    await cache.set("key", {"two": 2})
    assert await cache.get("key") == {"two": 2}


async def test_set_many_of_nothing_is_fine(cache: Any) -> None:
    await cache.set_many({})


async def test_ttl_expires_a_key(cache: Any) -> None:
    await cache.set("short", "value", ttl=0.2)
    await cache.set("long", "value", ttl=60)
    await cache.set("forever", "value")
    assert await cache.get("short") == "value"
    await asyncio.sleep(0.3)
    assert await cache.get("short") is None
    assert await cache.get("long") == "value"
    assert await cache.get("forever") == "value"


async def test_set_many_ttl_expires_every_key(cache: Any) -> None:
    await cache.set_many({"a": 1, "b": 2}, ttl=0.2)
    assert await cache.get_many(["a", "b"]) == {"a": 1, "b": 2}
    await asyncio.sleep(0.3)
    assert await cache.get_many(["a", "b"]) == {}


async def test_default_ttl_applies_when_no_ttl_is_given(make_cache: CacheFactory) -> None:
    cache = await make_cache(default_ttl=0.2)
    await cache.set("default", "value")
    await cache.set("explicit", "value", ttl=60)
    await asyncio.sleep(0.3)
    assert await cache.get("default") is None
    assert await cache.get("explicit") == "value"


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), "10", True])
async def test_a_ttl_must_be_a_positive_number(cache: Any, ttl: Any) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await cache.set("key", "value", ttl=ttl)


async def test_incr_counts_from_zero_and_by_any_amount(cache: Any) -> None:
    assert await cache.incr("counter") == 1
    assert await cache.incr("counter") == 2
    assert await cache.incr("counter", 10) == 12
    assert await cache.incr("counter", -20) == -8
    assert await cache.incr("other", 5) == 5
    assert await cache.get("counter") == -8


async def test_incr_works_on_an_integer_stored_with_set(cache: Any) -> None:
    await cache.set("counter", 41)
    assert await cache.incr("counter") == 42


@pytest.mark.parametrize("value", ["text", 1.5, True, [1], {"n": 1}])
async def test_incr_of_a_non_integer_value_raises(cache: Any, value: Any) -> None:
    await cache.set("key", value)
    with pytest.raises(ValueError, match="not an integer"):
        await cache.incr("key")
    assert await cache.get("key") == value


@pytest.mark.parametrize("amount", ["1", 1.0, None, True])
async def test_incr_amount_must_be_an_integer(cache: Any, amount: Any) -> None:
    with pytest.raises(TypeError):
        await cache.incr("key", amount)


async def test_incr_is_atomic_under_concurrency(cache: Any) -> None:
    results = await asyncio.gather(*(cache.incr("hits") for _ in range(200)))
    assert sorted(results) == list(range(1, 201))
    assert await cache.get("hits") == 200


async def test_incr_ttl_starts_the_window_once(cache: Any) -> None:
    # A rate-limit window: the first hit sets the expiry, later hits do not extend it.
    assert await cache.incr("window", ttl=0.3) == 1
    await asyncio.sleep(0.15)
    assert await cache.incr("window", ttl=60) == 2
    await asyncio.sleep(0.25)
    assert await cache.incr("window", ttl=60) == 1


async def test_incr_ttl_applies_to_a_key_stored_without_expiry(cache: Any) -> None:
    await cache.set("count", 5)
    assert await cache.incr("count", ttl=0.2) == 6
    await asyncio.sleep(0.3)
    assert await cache.get("count") is None


async def test_clear_removes_every_key_of_this_cache(cache: Any) -> None:
    await cache.set_many({f"k{i}": i for i in range(20)})
    await cache.clear()
    assert await cache.get_many([f"k{i}" for i in range(20)]) == {}
    await cache.set("after", "works")
    assert await cache.get("after") == "works"


async def test_clear_removes_more_keys_than_one_batch(cache: Any) -> None:
    await cache.set_many({f"k{i}": i for i in range(1_234)})
    await cache.clear()
    assert await cache.get_many([f"k{i}" for i in range(1_234)]) == {}


async def test_clear_leaves_another_prefix_alone(make_cache: CacheFactory) -> None:
    mine, theirs = await make_cache(), await make_cache()
    await mine.set("shared-name", "mine")
    await theirs.set("shared-name", "theirs")
    await mine.clear()
    assert await mine.get("shared-name") is None
    assert await theirs.get("shared-name") == "theirs"


async def test_the_prefix_keeps_equal_keys_apart(make_cache: CacheFactory) -> None:
    first, second = await make_cache(), await make_cache()
    await first.set("key", 1)
    assert await second.get("key") is None
    await second.set("key", 2)
    assert await first.get("key") == 1


async def test_ping(cache: Any) -> None:
    assert await cache.ping() is True


async def test_the_cache_matches_the_protocol(cache: Any) -> None:
    assert cache.name in {"memory", "redis"}  # the short name CACHE_CONFIG uses
    assert isinstance(cache, Cache)
