from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def add_bookmark(request: Request) -> JSONResponse:
    data = await request.json()
    row = await request.state.database.fetch_one(
        "INSERT INTO bookmarks (url, title) VALUES (:url, :title) RETURNING id, url, title",
        {"url": data["url"], "title": data["title"]},
    )
    return JSONResponse(row, status_code=201)


async def get_bookmark(request: Request) -> Response:
    bookmark_id = request.path_params["id"]
    cache, key = request.state.cache, f"bookmark:{bookmark_id}"
    row = await cache.get(key)  # a miss returns None
    source = "cache"
    if row is None:
        row = await request.state.database.fetch_one(
            "SELECT id, url, title FROM bookmarks WHERE id = :id", {"id": bookmark_id}
        )
        if row is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        await cache.set(key, row, ttl=60)  # values are JSON types: dicts, lists, str, ...
        source = "database"
    return JSONResponse(row, headers={"X-Source": source})


async def rename_all(request: Request) -> JSONResponse:
    """Several statements, one transaction: all are committed, or none."""
    database = request.state.database
    async with database.transaction():
        rows = await database.fetch_all("SELECT id, title FROM bookmarks")
        for row in rows:
            await database.execute(
                "UPDATE bookmarks SET title = :title WHERE id = :id",
                {"title": row["title"].upper(), "id": row["id"]},
            )
    await request.state.cache.clear()
    return JSONResponse({"renamed": len(rows)})


routes = [
    Route("/bookmarks", add_bookmark, methods=["POST"]),
    Route("/bookmarks/{id:int}", get_bookmark),
    Route("/bookmarks/rename", rename_all, methods=["POST"]),
]
