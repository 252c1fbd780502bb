"""What the built-in backends share: option checks, startup errors, and the caches' JSON codec.

Both caches store JSON text (never pickle, so a cache shared with other processes
cannot run code) under ``prefix + key``, and resolve ``ttl=None`` to their
``default_ttl``; that logic lives here once, in :class:`CacheCore`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from spoc_asgi.errors import SpocError
from spoc_asgi.redaction import redact_text


class InvalidOption(TypeError, ValueError):
    """A backend option has the wrong type or value.

    A ``TypeError`` so the plugin loader reports it as a configuration error naming
    the file and URI (spoc.E021), and a ``ValueError`` for callers who build a
    backend by hand and expect one.
    """


class BackendConnectError(SpocError):
    """A backend could not reach its server at startup (the URL in it is redacted)."""


def connect_error(
    what: str, url: str, exc: BaseException, detail: str | None = None
) -> BackendConnectError:
    """The startup error for ``what`` (e.g. "redis cache"), naming its URL without password."""
    reason = detail or f"{type(exc).__name__}: {redact_text(str(exc)) or 'no detail'}"
    return BackendConnectError(f"{what} at {redact_text(url)} could not connect: {reason}")


def positive_number(name: str, value: Any) -> float:
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or not math.isfinite(value) or value <= 0:
        raise InvalidOption(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def optional_positive_number(name: str, value: Any) -> float | None:
    return None if value is None else positive_number(name, value)


def positive_int(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise InvalidOption(f"{name} must be a positive integer, got {value!r}")
    return value


def optional_positive_int(name: str, value: Any) -> int | None:
    return None if value is None else positive_int(name, value)


def non_negative_int(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidOption(f"{name} must be an integer >= 0, got {value!r}")
    return value


def choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidOption(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return str(value)


# -- the caches -------------------------------------------------------------------------


def encode(value: Any) -> str:
    """JSON text for ``value``; ``TypeError`` for anything that would not round-trip.

    Arrays may be lists or tuples (they come back as lists). Rejected: non-string
    object keys (``json`` would silently turn ``{1: ...}`` into ``{"1": ...}``),
    NaN and infinities (not JSON), and every non-JSON type.
    """
    _check_keys(value)
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:  # NaN/infinity, or a circular reference
        raise TypeError(f"cache values must be JSON; {exc}") from exc
    except TypeError as exc:
        raise TypeError(f"cache values must be JSON types; {exc}") from exc


def _check_keys(value: Any) -> None:
    stack = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if id(item) in seen:
                continue  # json.dumps reports the cycle
            seen.add(id(item))
            for key in item:
                if not isinstance(key, str):
                    raise TypeError(
                        f"cache values must be JSON: object keys must be strings, got {key!r}"
                    )
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            if id(item) in seen:
                continue
            seen.add(id(item))
            stack.extend(item)


def decode(raw: str | bytes) -> Any:
    return json.loads(raw)


def check_key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"cache keys must be strings, got {type(key).__name__}: {key!r}")
    return key


def check_amount(amount: Any) -> int:
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise TypeError(f"incr amount must be an integer, got {amount!r}")
    return amount


def not_an_integer(key: str) -> ValueError:
    return ValueError(f"cannot incr cache key {key!r}: its value is not an integer")


class CacheCore:
    """Prefixing, TTL resolution and option checks, shared by both built-in caches."""

    def __init__(self, *, prefix: str, default_ttl: float | None) -> None:
        if not isinstance(prefix, str):
            raise InvalidOption(f"prefix must be a string, got {prefix!r}")
        self.prefix = prefix
        self.default_ttl = optional_positive_number("default_ttl", default_ttl)

    def full_key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def ttl_for(self, ttl: float | None) -> float | None:
        """Seconds until expiry (``None``: never); ``ttl=None`` means ``default_ttl``."""
        if ttl is None:
            return self.default_ttl
        return positive_number("ttl", ttl)
