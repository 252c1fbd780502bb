"""``POST /contacts``: input checked by the ``validators`` group, stored in the database."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from example_app.payloads import BadPayload, read_object, text_field
from example_app.validators import Validator


def configured_validators(app: Starlette) -> dict[str, Validator]:
    """Each validator factory of the group, built once per app with its options,
    by short name (``email``, ``phone``)."""
    built: dict[str, Validator] | None = getattr(app.state, "validators", None)
    if built is None:
        framework = app.state.framework
        built = {
            framework.short_name(uri, factory): factory(**framework.options_for("validators", uri))
            for uri, factory in framework.plugins.get("validators", {}).items()
        }
        app.state.validators = built
    return built


async def create_contact(request: Request) -> JSONResponse:
    try:
        contact = parse_contact(await read_object(request), configured_validators(request.app))
    except BadPayload as exc:
        return exc.response()
    row = await request.state.database.fetch_one(
        "INSERT INTO contacts (name, email, phone) VALUES (:name, :email, :phone) "
        "RETURNING id, name, email, phone",
        contact,
    )
    return JSONResponse(row, status_code=201)


def parse_contact(body: dict[str, Any], validators: dict[str, Validator]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    contact: dict[str, Any] = {
        "name": text_field(body, "name", errors),
        "email": text_field(body, "email", errors),
        "phone": text_field(body, "phone", errors, required=False, max_length=40) or None,
    }
    for field in ("email", "phone"):
        validate = validators.get(field)
        value = contact[field]
        if field not in errors and value and validate is not None and not validate(value):
            errors[field] = f"is not a valid {field}"
    if errors:
        raise BadPayload(422, errors)
    return contact


routes = [Route("/contacts", create_contact, methods=["POST"])]
