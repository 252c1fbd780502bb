"""``RedisCache``: the Redis cache backend (group ``cache``, name ``redis``), on ``redis.asyncio``.

Options (``CACHE_CONFIG = {"redis": {...}}``):

* ``url`` (default ``redis://127.0.0.1:6379/0``; ``rediss://`` and ``unix://`` work too);
* ``prefix`` (default ``"spoc:"``): every key lives under it, and ``clear()`` removes
  only keys under it (SCAN + UNLINK in batches, never FLUSHDB; with ``prefix=""``
  that is every key of the database);
* ``default_ttl`` (seconds, default ``None`` = no expiry) for calls without ``ttl``;
* ``connect_timeout`` / ``socket_timeout`` (seconds, default 2 each) bound every wait
  on the server; ``retries`` (default 1) retries a command once on a connection error,
  which is what replaces a pooled connection broken by a server restart, so a call
  during an outage takes at most ``(retries + 1) x`` a timeout;
* ``max_connections`` (default 50) caps the calls in flight, and so the connections; a
  call that finds every connection busy waits up to ``pool_timeout`` (seconds,
  default 5) for one, then fails as an outage would;
* ``on_error``: ``"raise"`` (default, fail closed) or ``"ignore"`` (fail open);
* ``breaker_failures`` (default 3) and ``breaker_cooldown`` (seconds, default 0.5): with
  ``on_error="ignore"``, after that many consecutive outage errors the cache stops
  calling Redis (circuit open) and answers as fail-open does, letting one call through
  as a probe every ``breaker_cooldown`` seconds (see :mod:`spoc_asgi.backends.breaker`).

Failure policy. With ``on_error="ignore"`` an *outage* (connection refused or lost,
timeout, read-only replica) while serving carries on as a miss (after
``breaker_failures`` of them in a row the circuit opens: one WARNING, URL redacted,
and one INFO when Redis answers again):
``get`` returns its default, ``get_many`` ``{}``, ``delete`` ``False``, ``set``,
``set_many`` and ``clear`` do nothing, and ``incr`` returns ``amount``, as it would
for a key that does not exist yet. So a rate limiter counting with ``incr`` lets
traffic through while Redis is down: that is what "fail open" means, and a limiter
that must hold during an outage should use ``on_error="raise"``. Data errors (a
non-integer under ``incr``, a key of another Redis type) are bugs, not outages,
and raise under both policies. ``connect()`` at startup always raises when Redis
cannot be reached within ``connect_timeout``, whatever the policy.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import anyio

from spoc_asgi.backends._shared import (
    CacheCore,
    InvalidOption,
    check_amount,
    choice,
    connect_error,
    decode,
    encode,
    non_negative_int,
    not_an_integer,
    positive_int,
    positive_number,
)
from spoc_asgi.backends.breaker import CircuitBreaker
from spoc_asgi.errors import BackendNotReadyError
from spoc_asgi.redaction import redact_text

try:
    from redis import exceptions as redis_errors
    from redis.asyncio import ConnectionPool, Redis
    from redis.asyncio.connection import parse_url
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialWithJitterBackoff
    from redis.commands.core import AsyncScript
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "spoc_asgi.backends.redis.RedisCache needs the redis package: "
        "pip install 'spoc_asgi[redis]'"
    ) from exc

logger = logging.getLogger(__name__)

T = TypeVar("T")

# What counts as "Redis is unavailable" for on_error="ignore".
UNAVAILABLE: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,
    OSError,
)
SCAN_BATCH = 500

# INCRBY and the first expiry in one atomic step: the window of a rate limit starts
# at the first hit and later hits do not push it back. PTTL -1 = the key has no expiry.
_INCR_SCRIPT = """
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if ARGV[2] ~= '' and redis.call('PTTL', KEYS[1]) == -1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
"""


class RedisCache(CacheCore):
    name = "redis"

    def __init__(
        self,
        *,
        url: str = "redis://127.0.0.1:6379/0",
        prefix: str = "spoc:",
        default_ttl: float | None = None,
        connect_timeout: float = 2.0,
        socket_timeout: float = 2.0,
        retries: int = 1,
        max_connections: int = 50,
        pool_timeout: float = 5.0,
        on_error: str = "raise",
        breaker_failures: int = 3,
        breaker_cooldown: float = 0.5,
    ) -> None:
        super().__init__(prefix=prefix, default_ttl=default_ttl)
        self.url = _checked_url(url)
        self.connect_timeout = positive_number("connect_timeout", connect_timeout)
        self.socket_timeout = positive_number("socket_timeout", socket_timeout)
        self.retries = non_negative_int("retries", retries)
        self.max_connections = positive_int("max_connections", max_connections)
        self.pool_timeout = positive_number("pool_timeout", pool_timeout)
        self.on_error = choice("on_error", on_error, ("raise", "ignore"))
        self._client: Redis | None = None
        self._incr: AsyncScript | None = None
        self._slots: asyncio.Semaphore | None = None  # one per call in flight
        self._breaker: CircuitBreaker | None = None
        failures = positive_int("breaker_failures", breaker_failures)
        cooldown = positive_number("breaker_cooldown", breaker_cooldown)
        if self.on_error == "ignore":
            self._breaker = CircuitBreaker(
                f"redis cache at {redact_text(self.url)}",
                failures=failures,
                cooldown=cooldown,
                logger=logger,
            )

    def __repr__(self) -> str:
        return (
            f"RedisCache(url={redact_text(self.url)!r}, prefix={self.prefix!r}, "
            f"on_error={self.on_error!r})"
        )

    # -- lifecycle --------------------------------------------------------------------

    async def connect(self) -> None:
        if self._client is not None:
            return
        # The cap is a semaphore in _run, not redis-py's BlockingConnectionPool: that
        # pool takes a condition and a timeout on every command, which cost as much as
        # 15% of a round trip on loopback. The pool itself is left uncapped, so it never
        # refuses a connection the semaphore has allowed.
        pool = ConnectionPool.from_url(
            self.url,
            socket_connect_timeout=self.connect_timeout,
            socket_timeout=self.socket_timeout,
            retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.5), self.retries),
        )
        client = Redis.from_pool(pool)
        try:
            with anyio.fail_after(self.connect_timeout):
                await client.ping()
        except Exception as exc:
            await client.aclose()
            detail = f"no answer within {self.connect_timeout:g}s (connect_timeout)"
            raise connect_error(
                "redis cache", self.url, exc, detail if isinstance(exc, TimeoutError) else None
            ) from exc
        self._client = client
        self._incr = client.register_script(_INCR_SCRIPT)
        self._slots = asyncio.Semaphore(self.max_connections)

    async def disconnect(self) -> None:
        client, self._client, self._incr, self._slots = self._client, None, None, None
        if client is not None:
            await client.aclose()

    async def ping(self) -> bool:
        self._connected()
        try:
            return bool(await self._run(lambda client: client.ping()))
        except (redis_errors.RedisError, OSError):
            return False

    # -- the cache API ----------------------------------------------------------------

    async def get(self, key: str, default: Any = None) -> Any:
        full_key = self.full_key(key)
        raw = await self._call("get", None, lambda client: client.get(full_key))
        return default if raw is None else decode(raw)

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        keys = list(keys)
        if not keys:
            return {}
        full_keys = [self.full_key(key) for key in keys]
        nothing: list[bytes | str | None] = [None] * len(keys)
        values = await self._call("get_many", nothing, lambda client: client.mget(full_keys))
        return {key: decode(raw) for key, raw in zip(keys, values, strict=True) if raw is not None}

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        full_key, text, px = self.full_key(key), encode(value), self._px(ttl)
        await self._call("set", None, lambda client: client.set(full_key, text, px=px))

    async def set_many(self, mapping: Mapping[str, Any], ttl: float | None = None) -> None:
        # Encode everything first: one bad value must not leave half the mapping written.
        encoded = [(self.full_key(key), encode(value)) for key, value in mapping.items()]
        if not encoded:
            return
        px = self._px(ttl)

        async def write(client: Redis) -> None:
            async with client.pipeline(transaction=True) as pipe:
                for full_key, text in encoded:
                    pipe.set(full_key, text, px=px)
                await pipe.execute()

        await self._call("set_many", None, write)

    async def delete(self, key: str) -> bool:
        full_key = self.full_key(key)
        return bool(await self._call("delete", 0, lambda client: client.unlink(full_key)))

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        amount = check_amount(amount)
        full_key, px = self.full_key(key), self._px(ttl)
        script = self._script()
        try:
            value = await self._call(
                "incr", amount, lambda client: script(keys=[full_key], args=[amount, px or ""])
            )
        except redis_errors.ResponseError as exc:
            if "not an integer" in str(exc):
                raise not_an_integer(key) from exc
            raise
        return int(value)

    async def clear(self) -> None:
        pattern = _glob_escape(self.prefix) + "*"

        async def remove(client: Redis) -> None:
            batch: list[bytes] = []
            async for full_key in client.scan_iter(match=pattern, count=SCAN_BATCH):
                batch.append(full_key)
                if len(batch) >= SCAN_BATCH:
                    await client.unlink(*batch)
                    batch.clear()
            if batch:
                await client.unlink(*batch)

        await self._call("clear", None, remove)

    # -- helpers ----------------------------------------------------------------------

    def _connected(self) -> Redis:
        if self._client is None:
            raise BackendNotReadyError(
                f"{self!r} is not connected: the app's lifespan connects it "
                f"(or await connect() when using it on its own)"
            )
        return self._client

    def _script(self) -> AsyncScript:
        self._connected()
        assert self._incr is not None  # set together with the client
        return self._incr

    def _px(self, ttl: float | None) -> int | None:
        seconds = self.ttl_for(ttl)
        return None if seconds is None else max(1, math.ceil(seconds * 1000))

    async def _run(self, run: Callable[[Redis], Awaitable[T]]) -> T:
        """Run one operation, holding one of the ``max_connections`` slots meanwhile."""
        client, slots = self._connected(), self._slots
        assert slots is not None  # set together with the client
        if slots.locked():  # every connection is busy: wait for one, up to pool_timeout
            try:
                with anyio.fail_after(self.pool_timeout):
                    await slots.acquire()
            except TimeoutError:
                raise redis_errors.ConnectionError(
                    f"no connection available within {self.pool_timeout:g}s (pool_timeout): "
                    f"max_connections={self.max_connections} calls are in flight"
                ) from None
        else:
            await slots.acquire()  # returns at once
        try:
            return await run(client)
        finally:
            slots.release()

    async def _call(self, operation: str, miss: T, run: Callable[[Redis], Awaitable[T]]) -> T:
        """Run one operation under the failure policy: an outage raises or becomes ``miss``."""
        breaker = self._breaker
        if breaker is None:  # on_error="raise"
            return await self._run(run)
        if not breaker.allow():  # circuit open: do not wait on a server that is down
            return miss
        try:
            result = await self._run(run)
        except UNAVAILABLE as exc:
            breaker.failed(operation, f"{type(exc).__name__}: {redact_text(str(exc))}")
            return miss
        breaker.succeeded()
        return result


def _checked_url(url: Any) -> str:
    if not isinstance(url, str):
        raise InvalidOption(f"url must be a string, got {type(url).__name__}")
    try:
        parse_url(url)
    except ValueError as exc:
        raise InvalidOption(f"url {redact_text(url)!r} is not a Redis URL: {exc}") from None
    return url


def _glob_escape(text: str) -> str:
    """Escape SCAN MATCH metacharacters so a prefix matches only itself."""
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)
