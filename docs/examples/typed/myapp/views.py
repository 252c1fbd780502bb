from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import spoc_asgi


async def add_note(request: Request) -> JSONResponse:
    db = spoc_asgi.database(request)  # SQLDatabase, not Any
    cache = spoc_asgi.cache(request)  # the Cache protocol: get/set/incr/...
    body: str = (await request.json())["body"]
    await db.execute("INSERT INTO notes (body) VALUES (:body)", {"body": body})
    added: int = await cache.incr("notes:added")
    return JSONResponse({"added": added}, status_code=201)


routes = [Route("/notes", add_note, methods=["POST"])]
