from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route


async def home(request: Request) -> JSONResponse:
    return JSONResponse({"request_id": request.state.request_id})


async def webhook(request: Request) -> JSONResponse:
    # verify_signature read the body first; it is read again here, whole.
    return JSONResponse({"received": await request.json()})


async def report(request: Request) -> PlainTextResponse:
    return PlainTextResponse("report line\n" * 100)  # over 500 bytes: gzipped


async def notes(request: Request) -> JSONResponse:
    return JSONResponse({"saved": request.method == "POST"})


routes = [
    Route("/", home),
    Route("/webhook", webhook, methods=["POST"]),
    Route("/report", report),
    Route("/notes", notes, methods=["GET", "POST"]),
]
