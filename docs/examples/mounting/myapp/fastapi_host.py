"""install(): the spoc configuration applied to an existing FastAPI app, in place."""

from pathlib import Path

from fastapi import FastAPI, Request

import spoc_asgi

BASE_DIR = Path(__file__).resolve().parent.parent

app = FastAPI()


@app.get("/items")
async def items(request: Request) -> dict[str, object]:
    # The configured backends are in the host's state too.
    return {"items": [], "motd": await request.state.cache.get("motd")}


spoc_asgi.install(app, BASE_DIR)  # before the app serves anything
