from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def hit(request: Request) -> JSONResponse:
    name = request.path_params["name"]
    hits = await request.state.cache.incr(f"hits:{name}")
    await request.state.database.execute(
        "INSERT INTO counters (name, total) VALUES (:name, :total) "
        "ON CONFLICT (name) DO UPDATE SET total = :total",
        {"name": name, "total": hits},
    )
    return JSONResponse({"name": name, "hits": hits})


async def total(request: Request) -> JSONResponse:
    row = await request.state.database.fetch_one(
        "SELECT total FROM counters WHERE name = :name", {"name": request.path_params["name"]}
    )
    return JSONResponse({"total": row["total"] if row else 0})


routes = [
    Route("/hit/{name}", hit, methods=["POST"]),
    Route("/total/{name}", total),
]
