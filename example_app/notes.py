"""Notes CRUD on the ``database`` group, read through the ``cache`` group.

``GET /notes/{id}`` is cache-aside: the cache first, else the database, then the
cache is filled for ``NOTES_CACHE_TTL`` seconds (settings.py). A write goes to the
database first and then drops the cached copy, so the next read sees it. The
``X-Cache`` header (``hit``/``miss``) says where a note came from. A read racing
a write can put the old copy back; the TTL bounds how long it stays. The list is
not cached: every write would invalidate it.
"""

from __future__ import annotations

from typing import Any

from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from example_app.payloads import BadPayload, not_found, read_object, text_field

DEFAULT_TTL = 60
MAX_LIST = 100
MAX_ID = 2**31 - 1  # PostgreSQL's INTEGER; a larger id in the path cannot exist


def cache_key(note_id: int) -> str:
    return f"notes:{note_id}"


def cache_ttl(request: Request) -> float:
    return getattr(request.app.state.framework.config.settings, "NOTES_CACHE_TTL", DEFAULT_TTL)


def parse_note(body: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    note = {
        "title": text_field(body, "title", errors),
        "body": text_field(body, "body", errors, required=False, max_length=10_000),
    }
    if errors:
        raise BadPayload(422, errors)
    return note


class NoteList(HTTPEndpoint):
    async def get(self, request: Request) -> Response:
        notes = await request.state.database.fetch_all(
            "SELECT id, title, body FROM notes ORDER BY id LIMIT :limit", {"limit": MAX_LIST}
        )
        return JSONResponse({"notes": notes})

    async def post(self, request: Request) -> Response:
        try:
            note = parse_note(await read_object(request))
        except BadPayload as exc:
            return exc.response()
        created = await request.state.database.fetch_one(
            "INSERT INTO notes (title, body) VALUES (:title, :body) RETURNING id, title, body",
            note,
        )
        return JSONResponse(created, status_code=201)


class NoteDetail(HTTPEndpoint):
    async def dispatch(self) -> None:
        # The {note_id:int} route takes any digits; one past the column's range would
        # make the database raise (a 500), where it is simply a note that does not exist.
        note_id: int = self.scope["path_params"]["note_id"]
        if note_id > MAX_ID:
            await not_found(f"note {note_id}")(self.scope, self.receive, self.send)
            return
        await super().dispatch()

    async def get(self, request: Request) -> Response:
        note_id: int = request.path_params["note_id"]
        cache = request.state.cache
        note = await cache.get(cache_key(note_id))
        if note is not None:
            return JSONResponse(note, headers={"X-Cache": "hit"})
        note = await request.state.database.fetch_one(
            "SELECT id, title, body FROM notes WHERE id = :id", {"id": note_id}
        )
        if note is None:
            return not_found(f"note {note_id}")
        await cache.set(cache_key(note_id), note, ttl=cache_ttl(request))
        return JSONResponse(note, headers={"X-Cache": "miss"})

    async def put(self, request: Request) -> Response:
        note_id: int = request.path_params["note_id"]
        try:
            note = parse_note(await read_object(request))
        except BadPayload as exc:
            return exc.response()
        updated = await request.state.database.fetch_one(
            "UPDATE notes SET title = :title, body = :body WHERE id = :id "
            "RETURNING id, title, body",
            {**note, "id": note_id},
        )
        if updated is None:
            return not_found(f"note {note_id}")
        await request.state.cache.delete(cache_key(note_id))
        return JSONResponse(updated)

    async def delete(self, request: Request) -> Response:
        note_id: int = request.path_params["note_id"]
        deleted = await request.state.database.execute(
            "DELETE FROM notes WHERE id = :id", {"id": note_id}
        )
        if not deleted:
            return not_found(f"note {note_id}")
        await request.state.cache.delete(cache_key(note_id))
        return Response(status_code=204)


routes = [
    Route("/notes", NoteList),
    Route("/notes/{note_id:int}", NoteDetail),
]
