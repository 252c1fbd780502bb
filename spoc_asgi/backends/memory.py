"""``MemoryCache``: the in-process cache backend (group ``cache``, name ``memory``).

Options (``CACHE_CONFIG = {"memory": {...}}``):

* ``max_size`` (default 10 000): entries kept; the least recently used goes first;
* ``default_ttl`` (seconds, default ``None`` = no expiry) for calls without ``ttl``;
* ``prefix`` (default ``""``): prepended to every key, as on Redis (each instance has
  a store of its own, so it only matters to code that looks at the stored keys).

Values are stored as JSON text, exactly as in Redis, so a value read back is a
fresh copy and a non-JSON value fails at ``set`` in development as it would in
production. Expired entries are dropped when touched or when they reach the LRU
end. Every method completes without awaiting, so each call is atomic on the event
loop (``incr`` included); the cache is per process and per instance, and not meant
to be shared between event loops in different threads.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from spoc_asgi.backends._shared import (
    CacheCore,
    check_amount,
    decode,
    encode,
    not_an_integer,
    positive_int,
)

# (JSON text, monotonic expiry time or None)
_Entry = tuple[str, float | None]


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
        raw = self._read(self.full_key(key))
        return default if raw is None else decode(raw)

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key in keys:
            raw = self._read(self.full_key(key))
            if raw is not None:
                found[key] = decode(raw)
        return found

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        self._write(self.full_key(key), encode(value), self._expiry(ttl))

    async def set_many(self, mapping: Mapping[str, Any], ttl: float | None = None) -> None:
        # Encode everything first: one bad value must not leave half the mapping written.
        encoded = [(self.full_key(key), encode(value)) for key, value in mapping.items()]
        expiry = self._expiry(ttl)
        for full_key, text in encoded:
            self._write(full_key, text, expiry)

    async def delete(self, key: str) -> bool:
        full_key = self.full_key(key)
        alive = self._read(full_key) is not None
        self._entries.pop(full_key, None)
        return alive

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        amount = check_amount(amount)
        full_key = self.full_key(key)
        raw = self._read(full_key)
        if raw is None:
            self._write(full_key, encode(amount), self._expiry(ttl))
            return amount
        current = decode(raw)
        if type(current) is not int:  # bool and float are not counters
            raise not_an_integer(key)
        total: int = current + amount
        # As on Redis: an expiry already set is kept (a rate-limit window is set once);
        # a key without one gets the ttl.
        expires_at = self._entries[full_key][1]
        self._entries[full_key] = (
            encode(total),
            expires_at if expires_at is not None else self._expiry(ttl),
        )
        return total

    async def clear(self) -> None:
        self._entries.clear()  # every key here is under this cache's prefix

    def _expiry(self, ttl: float | None) -> float | None:
        seconds = self.ttl_for(ttl)
        return None if seconds is None else time.monotonic() + seconds

    def _read(self, full_key: str) -> str | None:
        entry = self._entries.get(full_key)
        if entry is None:
            return None
        text, expires_at = entry
        if expires_at is not None and expires_at <= time.monotonic():
            del self._entries[full_key]
            return None
        self._entries.move_to_end(full_key)
        return text

    def _write(self, full_key: str, text: str, expires_at: float | None) -> None:
        self._entries[full_key] = (text, expires_at)
        self._entries.move_to_end(full_key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)
