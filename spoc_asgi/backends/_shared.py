"""What the built-in backends share: option checks, startup errors, and the caches' JSON codec.

Both caches store JSON text (never pickle, so a cache shared with other processes
cannot run code) under ``prefix + key``, and resolve ``ttl=None`` to their
``default_ttl``; that logic lives here once, in :class:`CacheCore`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
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


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_CONTAINERS = (dict, list, tuple)


def _c_encoder() -> Callable[[Any], str] | None:
    """``_ENCODER.encode`` without its per-call set-up, which takes a third of its time.

    ``JSONEncoder`` builds this very C encoder (same settings) on every call, with a
    fresh dict of markers to detect cycles (the encoder leaves entries in it after an
    error, so it cannot be shared). Built once, without markers: a cycle then ends in
    ``RecursionError``, which :func:`encode` reports. ``None`` if the C accelerator is
    missing or no longer takes these arguments: ``_ENCODER.encode`` is used then.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - depends on the Python build
        return None
    try:
        # (markers, default, string encoder, indent, key and item separators,
        # sort_keys, skipkeys, allow_nan), positional in C
        settings = (None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",")
        encoder = make(*settings, False, False, False)

        def encode(value: Any) -> str:
            return "".join(encoder(value, 0))

        if encode({"a": [1.5, None, "é"]}) == '{"a":[1.5,null,"é"]}':
            return encode
    except Exception:  # pragma: no cover - depends on the Python version
        pass
    return None  # pragma: no cover


_encode: Callable[[Any], str] = _c_encoder() or _ENCODER.encode


def encode(value: Any) -> str:
    """JSON text for ``value``; ``TypeError`` for anything that would not round-trip.

    Arrays may be lists or tuples (they come back as lists). Rejected: non-string
    object keys (``json`` would silently turn ``{1: ...}`` into ``{"1": ...}``),
    NaN and infinities (not JSON), circular values, and every non-JSON type.
    """
    try:
        text = _encode(value)
    except ValueError as exc:  # NaN/infinity (or a cycle, with the pure-Python encoder)
        raise TypeError(f"cache values must be JSON; {exc}") from exc
    except TypeError as exc:
        raise TypeError(f"cache values must be JSON types; {exc}") from exc
    except RecursionError as exc:
        raise TypeError("cache values must be JSON; the value is circular or too deep") from exc
    if isinstance(value, _CONTAINERS):
        _check_keys(value)  # after encoding: a value that encodes has no cycle
    return text


def _check_keys(value: dict[Any, Any] | list[Any] | tuple[Any, ...]) -> None:
    """Every object key in ``value`` is a string; only containers are visited."""
    if isinstance(value, dict):
        for key, child in value.items():
            if not isinstance(key, str):
                raise TypeError(
                    f"cache values must be JSON: object keys must be strings, got {key!r}"
                )
            if isinstance(child, _CONTAINERS):
                _check_keys(child)
    else:
        for child in value:
            if isinstance(child, _CONTAINERS):
                _check_keys(child)


decode = json.loads  # str or bytes -> the value


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
