"""``[spoc] max_body_size``: bodies over it get 413 and are never read in full."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from spoc_asgi import create_app
from spoc_asgi.body_limit import DEFAULT_MAX_BODY_SIZE, BodySizeLimit
from spoc_asgi.errors import ConfigurationError
from tests.conftest import Project

ROUTES = """
from starlette.responses import PlainTextResponse
from starlette.routing import Route

SEEN = []


async def echo(request):
    body = await request.body()
    return PlainTextResponse(str(len(body)))


async def read_body(request):
    # a request function that reads the body before the route does
    SEEN.append(len(await request.body()))
    return None


routes = [Route("/echo", echo, methods=["POST"])]
"""


def project_app(project: Project, toml: str = "") -> tuple[Starlette, str]:
    module = project.module(ROUTES)
    project.toml(
        f'[spoc]\n{toml}\n[spoc.plugins]\nroutes = ["{module}.routes"]\n'
        f'middleware = ["{module}.read_body"]\n'
    )
    return create_app(project.base_dir), module


async def post(app: Starlette, content: bytes | AsyncIterator[bytes]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        return await client.post("/echo", content=content)


async def chunks(size: int, count: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"x" * size


async def test_the_default_is_ten_mebibytes(project: Project) -> None:
    app, _ = project_app(project)
    assert DEFAULT_MAX_BODY_SIZE == 10 * 1024 * 1024
    response = await post(app, b"x" * 1000)
    assert response.status_code == 200 and response.text == "1000"


async def test_a_content_length_over_the_limit_is_refused_before_reading(
    project: Project,
) -> None:
    app, module = project_app(project, "max_body_size = 100")
    response = await post(app, b"x" * 101)
    assert response.status_code == 413
    assert "max_body_size" in response.text
    assert __import__(module).SEEN == []  # the request function never ran


async def test_a_chunked_body_is_counted_as_it_streams(project: Project) -> None:
    app, module = project_app(project, "max_body_size = 1000")
    response = await post(app, chunks(300, 10))  # no Content-Length
    assert response.status_code == 413
    assert __import__(module).SEEN == []
    ok = await post(app, chunks(300, 3))
    assert ok.status_code == 200 and ok.text == "900"


async def test_zero_disables_the_limit(project: Project) -> None:
    app, _ = project_app(project, "max_body_size = 0")
    response = await post(app, b"x" * (DEFAULT_MAX_BODY_SIZE + 1))
    assert response.status_code == 200
    assert response.text == str(DEFAULT_MAX_BODY_SIZE + 1)


@pytest.mark.parametrize("value", ['"10MB"', "-1", "1.5", "true"])
def test_a_bad_value_is_e040(project: Project, value: str) -> None:
    project.toml(f"[spoc]\nmax_body_size = {value}\n")
    with pytest.raises(ConfigurationError) as raised:
        create_app(project.base_dir)
    assert raised.value.id == "spoc.E040"
    assert "max_body_size" in str(raised.value)


async def test_a_route_that_answers_without_reading_is_left_alone() -> None:
    async def early(request: Request) -> PlainTextResponse:
        return PlainTextResponse("early")

    app = BodySizeLimit(Starlette(routes=[Route("/echo", early, methods=["POST"])]), 10)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        response = await client.post("/echo", content=chunks(100, 3))
    assert response.status_code == 200 and response.text == "early"


@pytest.mark.parametrize(
    ("http_version", "headers"),
    [
        ("1.1", [(b"content-length", b"5"), (b"transfer-encoding", b"chunked")]),
        ("1.1", [(b"transfer-encoding", b"chunked"), (b"content-length", b"5")]),
        ("3", []),
    ],
    ids=["length first", "encoding first", "HTTP/3 without a length"],
)
async def test_a_body_without_a_trusted_length_is_counted(
    http_version: str, headers: list[tuple[bytes, bytes]]
) -> None:
    # RFC 9112 6.3: with both headers the body is chunked, whatever length is announced,
    # so it is counted, not trusted; HTTP/3, like HTTP/2, may announce no length.
    read: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            read.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        await PlainTextResponse("read it all")(scope, receive, send)

    bodies = iter([b"x" * 8, b"x" * 8, b""])

    async def receive() -> Message:
        body = next(bodies)
        return {"type": "http.request", "body": body, "more_body": bool(body)}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "http_version": http_version, "method": "POST", "headers": headers}
    await BodySizeLimit(app, 10)(scope, receive, send)
    assert sent[0]["status"] == 413
    assert read == [b"x" * 8]  # the app never got the chunk past the limit
