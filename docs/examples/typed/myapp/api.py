"""The same backends in FastAPI endpoints, through ready dependencies."""

from pathlib import Path
from typing import Any

from fastapi import FastAPI

import spoc_asgi
from spoc_asgi.fastapi import CacheDep, DatabaseDep

api = FastAPI()


@api.get("/notes")
async def list_notes(db: DatabaseDep, cache: CacheDep) -> dict[str, Any]:
    notes = await db.fetch_all("SELECT id, body FROM notes ORDER BY id")
    return {"notes": notes, "added": await cache.get("notes:added", 0)}


# The spoc routes, hooks and backends, installed in the FastAPI app.
app = spoc_asgi.install(api, Path(__file__).resolve().parent.parent)
