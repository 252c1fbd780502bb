"""JSON in and out for the example's endpoints: one error shape everywhere."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse


class BadPayload(Exception):
    """The request body is not what the endpoint takes; becomes a 4xx JSON response."""

    def __init__(self, status_code: int, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.status_code = status_code
        self.errors = errors

    def response(self) -> JSONResponse:
        return JSONResponse({"errors": self.errors}, status_code=self.status_code)


async def read_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object, or ``BadPayload`` (400)."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadPayload(400, {"body": "must be valid JSON"}) from None
    except RecursionError:  # the json module recurses once per nesting level
        raise BadPayload(400, {"body": "is nested too deeply"}) from None
    if not isinstance(body, dict):
        raise BadPayload(400, {"body": "must be a JSON object"})
    return body


def text_field(
    body: dict[str, Any],
    name: str,
    errors: dict[str, str],
    *,
    required: bool = True,
    max_length: int = 200,
    default: str = "",
) -> str:
    """One string field; a problem is added to ``errors`` under the field's name."""
    value = body.get(name)
    if value is None:
        if required:
            errors[name] = "is required"
        return default
    if not isinstance(value, str):
        errors[name] = "must be a string"
        return default
    value = value.strip()
    if not _encodable(value):  # "\ud800" is valid JSON, but no database stores it
        errors[name] = "must be valid Unicode text (no lone surrogates)"
        return default
    if required and not value:
        errors[name] = "must not be empty"
    elif len(value) > max_length:
        errors[name] = f"must be at most {max_length} characters"
    return value


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def not_found(what: str) -> JSONResponse:
    return JSONResponse({"error": "not_found", "detail": f"{what} does not exist"}, 404)
