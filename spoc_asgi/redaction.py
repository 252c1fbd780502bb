"""Keep secrets out of logs, reprs, errors and the CLI.

Two rules: the password of a URL (``scheme://user:password@host``) is masked, and
the value of any key named like ``password``/``secret``/``token``/``api_key`` is
masked, in a mapping and in text (``token=...``, ``'password': '...'``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

MASK = "***"

# The patterns are strings, compiled by ``re`` (and kept in its cache) on first use: the
# first backend described in the lifespan's messages, or the first error, not the import.

_SECRET_WORD = r"pass(?:word|wd)?|secret|token|api[_-]?key|credential|private"
_SECRET_KEY = rf"(?i:{_SECRET_WORD})"
# user:password@host in any URL-looking text; the user name stays, it helps debugging.
# A password may hold any character (quotes, "<", ">", whitespace, "@", "/", raw or
# percent-encoded), so it runs to the *last* "@" on its line before the next "://", as
# urllib parses an authority: what the mask swallows by mistake is never a leak. A
# password never holds a line break, so the mask stops at one (a traceback's later
# "@decorator" line stays). "host:8080/..." is a port, not a password: digits ending
# where an authority can end. One to three slashes after the scheme: a mistyped
# "postgresql+asyncpg:/user:pw@host" too. "[" is no user name character: "[::1]:6379".
_URL_PASSWORD = (
    r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*:/{1,3}[^:/?#@\s'\"<>\[\]]*:)"
    r"(?![0-9]+(?:[/?#\s'\"<>]|\Z))"
    r"(?:(?!://)[^\r\n]){0,2000}(?P<at>@)"
)
# A quoted string literal, as repr() writes it.
_QUOTED_VALUE = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""
# key=value: query strings (?access_token=...), libpq DSNs, keyword-argument reprs.
_ASSIGNED_SECRET = (
    rf"(?i:(?P<key>\b[\w.-]*(?:{_SECRET_WORD})[\w.-]*\s*=\s*)"
    rf"(?P<value>{_QUOTED_VALUE}|[^\s&;,)}}\]]+))"
)
# 'key': value, as in the repr() of a dict.
_MAPPED_SECRET = (
    rf"(?i:(?P<key>(?P<q>['\"])[\w .-]*(?:{_SECRET_WORD})[\w .-]*(?P=q)\s*:\s*)"
    rf"(?P<value>{_QUOTED_VALUE}|[^\s,}}\]]+))"
)


def is_secret_key(key: object) -> bool:
    return isinstance(key, str) and bool(re.search(_SECRET_KEY, key))


def _mask_value(match: re.Match[str]) -> str:
    value = match.group("value")
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match.group('key')}{quote}{MASK}{quote}"


def redact_text(text: str) -> str:
    """Mask URL passwords and the values of secret-named keys found in ``text``."""
    if "@" not in text and "=" not in text and ":" not in text:
        return text
    text = re.sub(_URL_PASSWORD, rf"\g<head>{MASK}\g<at>", text)
    text = re.sub(_ASSIGNED_SECRET, _mask_value, text)
    return re.sub(_MAPPED_SECRET, _mask_value, text)


def redact_lifespan_failures(
    send: Callable[[Any], Awaitable[None]],
) -> Callable[[Any], Awaitable[None]]:
    """Wrap an ASGI ``send`` so ``lifespan.*.failed`` messages (a traceback, with every
    chained exception's text) reach the server and its log with secrets masked."""

    async def redacting_send(message: Any) -> None:
        if message.get("type", "").endswith(".failed") and isinstance(message.get("message"), str):
            message = {**message, "message": redact_text(message["message"])}
        await send(message)

    return redacting_send


# How deep redact() copies nested values; anything deeper, or a cycle, is shown as a
# placeholder: a printed value is for reading, and a copy must never overflow the stack.
MAX_DEPTH = 50
TOO_DEEP = "<nested too deeply>"
CYCLE = "<circular reference>"


def redact(value: Any) -> Any:
    """Return a copy of ``value`` safe to print: secret keys and URL passwords masked.

    Cycles and containers nested deeper than ``MAX_DEPTH`` become placeholder strings.
    """
    return _redact(value, 0, set())


def _redact(value: Any, depth: int, path: set[int]) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if not isinstance(value, (Mapping, list, tuple, set, frozenset)):
        return value
    if id(value) in path:
        return CYCLE
    if depth >= MAX_DEPTH:
        return TOO_DEEP
    path.add(id(value))
    try:
        if isinstance(value, Mapping):
            return {
                k: (MASK if is_secret_key(k) else _redact(v, depth + 1, path))
                for k, v in value.items()
            }
        items = [_redact(v, depth + 1, path) for v in value]
        if isinstance(value, list):
            return items
        if isinstance(value, tuple):
            # A namedtuple is built from fields, not from one iterable.
            make = getattr(type(value), "_make", None)
            return make(items) if callable(make) else tuple(items)
        try:
            return type(value)(items)
        except TypeError:  # unhashable items once copied
            return items
    finally:
        path.discard(id(value))
