"""``MemoryCache``: the in-process cache backend (group ``cache``, name ``memory``).

Options (``CACHE_CONFIG = {"memory": {...}}``):

* ``max_size`` (default 10 000): entries kept; the least recently used goes first;
* ``default_ttl`` (seconds, default ``None`` = no expiry) for calls without ``ttl``;
* ``prefix`` (default ``""``): prepended to every key, as on Redis (each instance has
  a store of its own, so it only matters to code that looks at the stored keys).

Values keep the promises of Redis: a value read back is a fresh copy, and a non-JSON
value fails at ``set`` in development as it would in production. Containers (dicts,
lists, tuples) are stored as JSON text for that; immutable JSON scalars (``str``,
``int``, ``float``, ``bool``, ``None``) are stored as they are, after the same checks
(NaN and infinities are refused), since they cannot change and read back equal. So
``incr`` works on a plain ``int``. Expired entries are dropped when touched or when
they reach the LRU end. Every method completes without awaiting, so each call is
atomic on the event loop (``incr`` included); the cache is per process and per
instance, and not meant to be shared between event loops in different threads.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from math import isfinite
from time import monotonic
from typing import Any

from spoc_asgi.backends._shared import (
    CacheCore,
    check_amount,
    encode,
    not_an_integer,
    positive_int,
    positive_number,
)

# (the value, or the JSON text of a container; monotonic expiry time or None; is JSON)
_Entry = tuple[Any, float | None, bool]
_AS_IS = frozenset({str, int, bool, type(None)})  # immutable JSON scalars (float: if finite)
# The stored text is our own encoder's: no whitespace around it to skip or check, so the
# documented raw_decode() does (in half the time of json.loads). Returns (value, end).
_decode = json.JSONDecoder().raw_decode

# The hot methods (get, set, incr) are written out in full, not through shared helpers:
# a Python call costs about a tenth of a whole dict-backed cache call, and the cache is
# held to within 10% of a dict doing the same bookkeeping and checks (docs/performance.md).


class MemoryCache(CacheCore):
    name = "memory"

    def __init__(
        self, *, max_size: int = 10_000, default_ttl: float | None = None, prefix: str = ""
    ) -> None:
        super().__init__(prefix=prefix, default_ttl=default_ttl)
        self.max_size = positive_int("max_size", max_size)
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __repr__(self) -> str:
        return f"MemoryCache(max_size={self.max_size}, prefix={self.prefix!r})"

    def __len__(self) -> int:
        return len(self._entries)

    async def connect(self) -> None:
        """Nothing to reach; present so the lifespan treats every cache alike."""

    async def disconnect(self) -> None:
        self._entries.clear()

    async def ping(self) -> bool:
        return True

    async def get(self, key: str, default: Any = None) -> Any:
        full_key = self.prefix + key if type(key) is str else self.full_key(key)
        entries = self._entries
        entry = entries.get(full_key)
        if entry is None:
            return default
        value, expires_at, is_json = entry
        if expires_at is not None and expires_at <= monotonic():
            del entries[full_key]
            return default
        entries.move_to_end(full_key)
        return _decode(value)[0] if is_json else value

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key in keys:
            entry = self._live(self.full_key(key))
            if entry is not None:
                found[key] = _decode(entry[0])[0] if entry[2] else entry[0]
        return found

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        full_key = self.prefix + key if type(key) is str else self.full_key(key)
        expires_at = None if ttl is None and self.default_ttl is None else self._expiry(ttl)
        entries = self._entries
        if type(value) in _AS_IS or (type(value) is float and isfinite(value)):
            entries[full_key] = (value, expires_at, False)
        else:
            entries[full_key] = (encode(value), expires_at, True)  # raises for non-JSON values
        entries.move_to_end(full_key)
        if len(entries) > self.max_size:
            entries.popitem(last=False)

    async def set_many(self, mapping: Mapping[str, Any], ttl: float | None = None) -> None:
        # Check everything first: one bad value must not leave half the mapping written.
        checked = [(self.full_key(key), *_stored(value)) for key, value in mapping.items()]
        expires_at = self._expiry(ttl)
        entries = self._entries
        for full_key, stored, is_json in checked:
            entries[full_key] = (stored, expires_at, is_json)
            entries.move_to_end(full_key)
            if len(entries) > self.max_size:
                entries.popitem(last=False)

    async def delete(self, key: str) -> bool:
        full_key = self.full_key(key)
        alive = self._live(full_key) is not None
        self._entries.pop(full_key, None)
        return alive

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        if type(amount) is not int:
            amount = check_amount(amount)
        full_key = self.prefix + key if type(key) is str else self.full_key(key)
        entries = self._entries
        entry = entries.get(full_key)
        if entry is not None:
            current, expires_at, is_json = entry
            if expires_at is None or expires_at > monotonic():
                if is_json:  # an int subclass went in as JSON and comes back an int
                    current = _decode(current)[0]
                if type(current) is not int:  # bool and float are not counters
                    raise not_an_integer(key)
                total: int = current + amount
                # As on Redis: an expiry already set is kept (a rate-limit window is set
                # once); a key without one gets the ttl.
                if expires_at is None:
                    expires_at = self._expiry(ttl)
                entries[full_key] = (total, expires_at, False)
                entries.move_to_end(full_key)
                return total
        entries[full_key] = (amount, self._expiry(ttl), False)  # replaces an expired entry
        entries.move_to_end(full_key)
        if len(entries) > self.max_size:
            entries.popitem(last=False)
        return amount

    async def clear(self) -> None:
        self._entries.clear()  # every key here is under this cache's prefix

    def _expiry(self, ttl: float | None) -> float | None:
        """Monotonic expiry time for ``ttl`` (``None``: ``default_ttl``), or None: never."""
        if ttl is None:
            if self.default_ttl is None:
                return None
            return monotonic() + self.default_ttl
        return monotonic() + positive_number("ttl", ttl)

    def _live(self, full_key: str) -> _Entry | None:
        """The entry under ``full_key`` unless expired (then dropped); now the most recent."""
        entries = self._entries
        entry = entries.get(full_key)
        if entry is None:
            return None
        expires_at = entry[1]
        if expires_at is not None and expires_at <= monotonic():
            del entries[full_key]
            return None
        entries.move_to_end(full_key)
        return entry


def _stored(value: Any) -> tuple[Any, bool]:
    """What the cache keeps for ``value``: a JSON scalar as is, anything else as JSON."""
    kind = type(value)
    if kind in _AS_IS or (kind is float and isfinite(value)):
        return value, False
    return encode(value), True  # containers, subclasses; raises for non-JSON values
