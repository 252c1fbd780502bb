"""Keep secrets out of logs, reprs, errors and the CLI.

Two rules: the password of a URL (``scheme://user:password@host``) is masked, and
the value of any key named like ``password``/``secret``/``token``/``key`` is masked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"

_SECRET_KEY = re.compile(r"(pass(word|wd)?|secret|token|api[_-]?key|credential|private)", re.I)
# user:password@ in any URL-looking text; the user name stays, it helps debugging.
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)[^@\s]*(?P<at>@)")
# ?password=... and friends in query strings.
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&](?:pass(?:word|wd)?|secret|token|api[_-]?key)=)[^&\s]*", re.I
)


def is_secret_key(key: object) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEY.search(key))


def redact_text(text: str) -> str:
    """Mask passwords inside URLs (and secret query parameters) found in ``text``."""
    if "://" not in text and "=" not in text:
        return text
    text = _URL_PASSWORD.sub(rf"\g<head>{MASK}\g<at>", text)
    return _QUERY_SECRET.sub(rf"\g<key>{MASK}", text)


def redact(value: Any) -> Any:
    """Return a copy of ``value`` safe to print: secret keys and URL passwords masked."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: (MASK if is_secret_key(k) else redact(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v) for v in value)
    return value
