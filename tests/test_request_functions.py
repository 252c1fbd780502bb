"""Request functions in a run share one layer (docs/middleware.md); exceptions meet the
app's own handlers; a different ``Request`` is refused; the lean ``request.state``."""

from __future__ import annotations

import sys
import threading
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi import HTTPException as FastAPIHTTPException
from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

import spoc_asgi
from spoc_asgi import create_app
from spoc_asgi.request_functions import RequestFunctionMiddleware, RequestState, _Request
from spoc_asgi.testing import lifespan_client
from tests.conftest import Project

PLUGINS = """
import threading

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse

import spoc_asgi

EVENTS = []
SEEN = []
THREADS = {}


def fa(request):
    EVENTS.append("a")
    SEEN.append(request)
    request.state.a = 1


async def fb(request):
    EVENTS.append("b")
    SEEN.append(request)
    request.state.b = request.state.a + 1
    return request


def fb_inline(request):  # fb as a plain function: a run of sync functions only
    EVENTS.append("b")
    SEEN.append(request)
    request.state.b = request.state.a + 1
    return request


def fc(request):
    EVENTS.append("c")
    SEEN.append(request)
    request.state.c = request.state.b + 1


def gate(request):
    EVENTS.append("gate")
    if request.headers.get("x-stop"):
        return PlainTextResponse("stopped", status_code=418)
    return None


def crash(request):
    EVENTS.append("crash")
    raise RuntimeError("middleware exploded")


def forbid(request):
    EVENTS.append("forbid")
    raise PermissionError("no entry for you")


def unauthorized(request):
    EVENTS.append("unauthorized")
    raise HTTPException(401, detail="who are you", headers={"WWW-Authenticate": "Bearer"})


class TeapotError(Exception):
    pass


def teapot(request):
    raise TeapotError("short and stout")


def replaces(request):
    return Request(request.scope, request.receive)


async def reads_body(request):
    EVENTS.append(("body", await request.body()))


async def reads_stream(request):
    EVENTS.append(("stream", b"".join([chunk async for chunk in request.stream()])))


def inline(request):
    THREADS["inline"] = threading.get_ident()
    EVENTS.append("inline")


@spoc_asgi.blocking
def in_thread(request):
    THREADS["in_thread"] = threading.get_ident()
    EVENTS.append("in_thread")


async def awaited(request):
    THREADS["awaited"] = threading.get_ident()
    EVENTS.append("awaited")


class Outer:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            mine = sorted(key for key in scope.get("state", {}) if key in ("a", "b", "c"))
            EVENTS.append(f"enter outer, state {mine}")
        await self.app(scope, receive, send)
        if scope["type"] == "http":
            EVENTS.append("exit outer")
"""


async def endpoint(request: Request) -> JSONResponse:
    events = sys.modules[request.app.state.plugin_module].EVENTS
    events.append("endpoint")
    state = {key: getattr(request.state, key, None) for key in ("a", "b", "c")}
    return JSONResponse({"state": state, "thread": threading.get_ident()})


async def echo(request: Request) -> PlainTextResponse:
    return PlainTextResponse(await request.body())


async def route_raises(request: Request) -> None:
    raise HTTPException(401, detail="who are you", headers={"WWW-Authenticate": "Bearer"})


ROUTES = [
    Route("/", endpoint),
    Route("/echo", echo, methods=["POST"]),
    Route("/route-raises", route_raises),
]


def build(
    project: Project, names: list[str], routes: list[Route] = ROUTES, **kwargs: Any
) -> tuple[Starlette, Any]:
    module = project.module(PLUGINS)
    uris = ", ".join(f'"{module}.{name}"' for name in names)
    project.toml(f"[spoc.plugins]\nmiddleware = [{uris}]\n")
    app = create_app(project.base_dir, routes=routes, **kwargs)
    app.state.plugin_module = module
    return app, sys.modules[module]


def layers(app: Starlette) -> list[Any]:
    found, layer = [], app.build_middleware_stack()
    while layer is not None:
        found.append(layer)
        layer = getattr(layer, "app", None)
    return found


def request_layers(app: Starlette) -> list[RequestFunctionMiddleware]:
    return [layer for layer in layers(app) if isinstance(layer, RequestFunctionMiddleware)]


# -- one layer, one Request -----------------------------------------------------------------

# The rules below hold for a run of sync functions only as for one with an async
# function in it.
RUNS = pytest.mark.parametrize("last", ["fb", "fb_inline"], ids=["awaited", "inline"])


@RUNS
async def test_a_run_of_request_functions_is_one_layer_with_one_request(
    project: Project, last: str
) -> None:
    app, plugins = build(project, ["fa", last, "fc"])
    (layer,) = request_layers(app)
    assert [name.rsplit(".", 1)[-1] for _, _, name in layer.steps] == ["fa", last, "fc"]
    async with lifespan_client(app) as client:
        response = await client.get("/")
    assert plugins.EVENTS == ["a", "b", "c", "endpoint"]
    assert response.json()["state"] == {"a": 1, "b": 2, "c": 3}
    first, *others = plugins.SEEN
    assert all(request is first for request in others)


async def test_a_class_in_between_splits_the_run_and_order_holds(project: Project) -> None:
    app, plugins = build(project, ["fa", "fb", "Outer", "fc"])
    kinds = [type(layer).__name__ for layer in layers(app)]
    start = kinds.index("RequestFunctionMiddleware")
    assert kinds[start : start + 3] == [
        "RequestFunctionMiddleware",
        "Outer",
        "RequestFunctionMiddleware",
    ]
    assert [len(layer.steps) for layer in request_layers(app)] == [2, 1]
    async with lifespan_client(app) as client:
        response = await client.get("/")
    # State set before the class is visible to it, and to the function after it.
    assert plugins.EVENTS == [
        "a",
        "b",
        "enter outer, state ['a', 'b']",
        "c",
        "endpoint",
        "exit outer",
    ]
    assert response.json()["state"] == {"a": 1, "b": 2, "c": 3}


@RUNS
async def test_a_short_circuit_stops_the_rest_of_the_run(project: Project, last: str) -> None:
    app, plugins = build(project, ["fa", "gate", last])
    async with lifespan_client(app) as client:
        stopped = await client.get("/", headers={"x-stop": "1"})
        assert plugins.EVENTS == ["a", "gate"]
        passed = await client.get("/")
    assert (stopped.status_code, stopped.text) == (418, "stopped")
    assert passed.status_code == 200
    assert plugins.EVENTS == ["a", "gate", "a", "gate", "b", "endpoint"]


@RUNS
@pytest.mark.parametrize(
    ("name", "status", "text"),
    [("forbid", 403, "no entry for you"), ("unauthorized", 401, "who are you")],
)
async def test_an_answered_exception_stops_the_rest_of_the_run(
    project: Project, name: str, status: int, text: str, last: str
) -> None:
    app, plugins = build(project, ["fa", name, last])
    async with lifespan_client(app) as client:
        response = await client.get("/")
    assert (response.status_code, response.text) == (status, text)
    assert ["a", name] == plugins.EVENTS


@RUNS
async def test_an_error_in_a_run_propagates_and_stops_it(project: Project, last: str) -> None:
    app, plugins = build(project, ["fa", "crash", last], debug=False)
    async with lifespan_client(app, raise_app_exceptions=False) as client:
        response = await client.get("/")
    assert response.status_code == 500
    assert "middleware exploded" not in response.text
    assert plugins.EVENTS == ["a", "crash"]
    with pytest.raises(RuntimeError, match="middleware exploded"):
        async with lifespan_client(app) as client:
            await client.get("/")


async def test_the_body_is_read_once_for_the_whole_run_and_replayed_to_the_app(
    project: Project,
) -> None:
    app, plugins = build(project, ["reads_body", "fa", "reads_stream"])
    messages: list[Message] = [
        {"type": "http.request", "body": b"one ", "more_body": True},
        {"type": "http.request", "body": b"two", "more_body": False},
    ]
    received = []

    async def receive() -> Message:
        received.append(1)
        if messages:
            return messages.pop(0)
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/echo",
        "raw_path": b"/echo",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "state": {},
    }
    with anyio.fail_after(10):  # a body that is not replayed would hang, not fail
        await app.build_middleware_stack()(scope, receive, send)
    assert plugins.EVENTS == [("body", b"one two"), "a", ("stream", b"one two")]
    assert len(received) == 2  # the two chunks, once: the app read the replay
    assert sent[1]["body"] == b"one two"


async def test_blocking_functions_in_a_run_keep_their_thread_and_order(project: Project) -> None:
    app, plugins = build(project, ["inline", "in_thread", "awaited"])
    assert len(request_layers(app)) == 1
    async with lifespan_client(app) as client:
        loop_thread = (await client.get("/")).json()["thread"]
    assert plugins.EVENTS == ["inline", "in_thread", "awaited", "endpoint"]
    assert plugins.THREADS["inline"] == loop_thread
    assert plugins.THREADS["awaited"] == loop_thread
    assert plugins.THREADS["in_thread"] != loop_thread


def test_layers_fuse_when_built_by_hand_too() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:  # pragma: no cover
        pass

    def one(request: Request) -> None:
        pass

    async def two(request: Request) -> None:
        pass

    layer = RequestFunctionMiddleware(RequestFunctionMiddleware(app, func=two), func=one)
    assert layer.app is app
    assert [func for func, _, _ in layer.steps] == [one, two]


async def test_the_body_limit_and_the_guard_leave_no_frame_in_the_await_chain(
    project: Project,
) -> None:
    # docs/performance.md, "What a layer costs": a coroutine layer's frame stays in the
    # chain for the whole request and is walked on every resume; these two return the
    # next layer's awaitable instead. Outer and the request-function layer are
    # coroutines, and show that the walk sees the layers that wait.
    waiting: list[str] = []

    async def frames(request: Request) -> PlainTextResponse:
        frame = sys._getframe().f_back
        while frame is not None:
            owner = frame.f_locals.get("self")
            if owner is not None and type(owner).__module__.startswith(
                ("spoc_asgi", request.app.state.plugin_module)
            ):
                waiting.append(type(owner).__name__)
            frame = frame.f_back
        return PlainTextResponse("ok")

    app, _ = build(project, ["Outer", "fa"], routes=[Route("/", frames)])
    async with lifespan_client(app) as client:
        assert (await client.get("/")).text == "ok"
    assert sorted(waiting) == ["Outer", "RequestFunctionMiddleware"]


# -- a different Request --------------------------------------------------------------------


async def test_returning_a_different_request_is_refused_naming_the_function(
    project: Project,
) -> None:
    app, plugins = build(project, ["replaces", "fa"])
    with pytest.raises(TypeError) as caught:
        async with lifespan_client(app) as client:
            await client.get("/")
    message = str(caught.value)
    assert f"{app.state.plugin_module}.replaces returned a different Request" in message
    assert "cannot replace the request" in message
    assert plugins.EVENTS == []  # neither the next function nor the app ran


# -- exceptions and the app's own handlers ----------------------------------------------


def fastapi_app(project: Project, names: list[str]) -> tuple[FastAPI, Any]:
    module = project.module(PLUGINS)
    uris = ", ".join(f'"{module}.{name}"' for name in names)
    project.toml(f"[spoc.plugins]\nmiddleware = [{uris}]\n")
    host = FastAPI()

    @host.get("/route-raises")
    async def raises() -> None:
        raise FastAPIHTTPException(
            401, detail="who are you", headers={"WWW-Authenticate": "Bearer"}
        )

    @host.get("/")
    async def home() -> dict[str, str]:
        return {"ok": "yes"}

    spoc_asgi.install(host, project.base_dir)
    return host, sys.modules[module]


async def test_http_exception_in_a_fastapi_host_gets_its_json_handler(project: Project) -> None:
    host, _ = fastapi_app(project, ["fa", "unauthorized"])
    async with lifespan_client(host) as client:
        from_function = await client.get("/")
        from_route = await client.get("/route-raises")
    assert from_function.status_code == from_route.status_code == 401
    assert from_function.headers["content-type"] == "application/json"
    assert from_function.json() == from_route.json() == {"detail": "who are you"}
    assert from_function.headers["www-authenticate"] == "Bearer"


async def test_the_apps_handlers_apply_by_status_and_by_class(project: Project) -> None:
    async def by_status(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"status_handler": str(exc)}, status_code=401)

    def by_class(request: Request, exc: Exception) -> PlainTextResponse:  # sync: a thread
        return PlainTextResponse(f"teapot: {exc}", status_code=418)

    module = project.module(PLUGINS)
    teapot_error = __import__(module).TeapotError
    project.toml(f'[spoc.plugins]\nmiddleware = ["{module}.unauthorized", "{module}.teapot"]\n')
    app = create_app(project.base_dir, exception_handlers={401: by_status, teapot_error: by_class})
    async with lifespan_client(app) as client:
        response = await client.get("/")
    assert (response.status_code, response.json()) == (401, {"status_handler": "401: who are you"})

    project.toml(f'[spoc.plugins]\nmiddleware = ["{module}.teapot"]\n')
    app = create_app(project.base_dir, exception_handlers={401: by_status, teapot_error: by_class})
    async with lifespan_client(app) as client:
        response = await client.get("/")
    assert (response.status_code, response.text) == (418, "teapot: short and stout")


async def test_the_500_handler_is_left_to_the_server_error_layer(project: Project) -> None:
    calls = []

    async def on_error(request: Request, exc: Exception) -> PlainTextResponse:
        calls.append(type(exc).__name__)
        return PlainTextResponse("handled as 500", status_code=500)

    module = project.module(PLUGINS)
    project.toml(f'[spoc.plugins]\nmiddleware = ["{module}.crash"]\n')
    app = create_app(project.base_dir, exception_handlers={Exception: on_error})
    async with lifespan_client(app, raise_app_exceptions=False) as client:
        response = await client.get("/")
    assert (response.status_code, response.text) == (500, "handled as 500")
    assert calls == ["RuntimeError"]  # once, by Starlette's ServerErrorMiddleware


# -- request.state -------------------------------------------------------------------------


def test_request_state_behaves_as_starlettes_state_on_the_same_dict() -> None:
    # RequestState replaces State's Python __setattr__ with the dict access itself: each
    # behaviour of Starlette's State must hold for it (a guard across Starlette versions).
    ours_dict: dict[str, Any] = {"kept": 1}
    theirs_dict: dict[str, Any] = {"kept": 1}
    ours, theirs = RequestState(ours_dict), State(theirs_dict)
    for state in (ours, theirs):
        state.added = 2
        assert state.kept == 1
        assert state.added == 2
        del state.kept
        with pytest.raises(AttributeError, match="no attribute 'missing'"):
            _ = state.missing
        assert isinstance(state, State)
    assert ours_dict == theirs_dict == {"added": 2}
    for name in ("__getitem__", "__iter__", "__len__"):  # where the installed State has them
        if hasattr(State, name):
            assert getattr(ours, name).__func__ is getattr(State, name)  # type: ignore[attr-defined]
    if hasattr(State, "__len__"):
        assert (len(ours), list(ours), ours["added"]) == (1, ["added"], 2)


def test_request_state_lives_in_the_scope_and_starlettes_request_sees_it() -> None:
    async def receive() -> Message:  # pragma: no cover
        return {"type": "http.request"}

    scope: Scope = {"type": "http", "headers": []}
    request = _Request(scope, receive)
    request.state.user = "ada"
    assert request.state is request.state
    assert scope["state"] == {"user": "ada"}
    other = Request(scope, receive)
    assert other.state.user == "ada"
    other.state.tenant = "t1"
    assert request.state.tenant == "t1"


def test_the_lean_requests_headers_are_starlettes() -> None:
    # headers is made on first read and kept (no property): what Starlette derives from
    # it must not change.
    async def receive() -> Message:  # pragma: no cover
        return {"type": "http.request"}

    scope: Scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "server": ("example.org", 80),
        "path": "/p",
        "root_path": "",
        "query_string": b"q=1",
        "headers": [(b"host", b"example.org"), (b"cookie", b"a=1; b=2"), (b"x-key", b"k")],
    }
    ours, theirs = _Request(scope, receive), Request(scope, receive)
    assert ours.headers is ours.headers
    assert ours.headers == theirs.headers
    assert ours.headers["x-key"] == "k"
    assert ours.cookies == theirs.cookies == {"a": "1", "b": "2"}
    assert str(ours.url) == str(theirs.url) == "http://example.org/p?q=1"
