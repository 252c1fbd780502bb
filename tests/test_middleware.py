"""The middleware group (docs/middleware.md): shapes, order, options, request-function rules."""

from __future__ import annotations

import ast
import importlib
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from spoc_asgi import ConfigurationError, create_app
from spoc_asgi.request_functions import RequestFunctionMiddleware
from spoc_asgi.testing import lifespan_client
from tests.conftest import Project

PLUGINS = """
import threading

from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse

import spoc_asgi

EVENTS = []
THREADS = {}
CREATED = []


class Recorder:
    label = "?"

    def __init__(self, app, label=None):
        self.app = app
        self.label = label or type(self).label

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        EVENTS.append(f"enter {self.label}")
        await self.app(scope, receive, send)
        EVENTS.append(f"exit {self.label}")


class First(Recorder):
    label = "first"


class Second(Recorder):
    label = "second"


class Third(Recorder):
    label = "third"


class Tagger:
    def __init__(self, app, tag="none", other="none"):
        self.app, self.tag, self.other = app, tag, other

    async def __call__(self, scope, receive, send):
        async def tagged(message):
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-tag", self.tag.encode()),
                    (b"x-other", self.other.encode()),
                ]
            await send(message)

        await self.app(scope, receive, tagged)


TAGGED = Middleware(Tagger, tag="from-instance", other="kept")


def log_request(request):
    EVENTS.append(f"log {request.url.path}")
    THREADS["log_request"] = threading.get_ident()
    return request


def returns_none(request):
    EVENTS.append("none")


async def async_gate(request):
    if request.headers.get("x-stop"):
        return PlainTextResponse("stopped", status_code=418)
    return request


def sync_gate(request):
    if request.headers.get("x-stop"):
        return PlainTextResponse("stopped by sync", status_code=418)
    return None


def forbid(request):
    raise PermissionError("no entry for you")


def os_permission(request):
    raise PermissionError(13, "Permission denied", "/etc/secret-file")


def not_found(request):
    raise HTTPException(status_code=404, detail="nothing here")


def crash(request):
    raise RuntimeError("middleware exploded")


def returns_junk(request):
    return {"not": "a response"}


def mark_state(request):
    request.state.marked = "yes"


@spoc_asgi.blocking
def blocking_function(request):
    THREADS["blocking_function"] = threading.get_ident()


async def reads_body(request):
    EVENTS.append(await request.body())


async def reads_json(request):
    EVENTS.append((await request.json())["name"])


async def reads_stream(request):
    EVENTS.append(b"".join([chunk async for chunk in request.stream()]))


class Processor:
    def __init__(self):
        CREATED.append("Processor")
        self.prefix = "unset"

    def configure(self, prefix="unset"):
        self.prefix = prefix

    async def process(self, request):
        EVENTS.append(f"{self.prefix} {request.url.path}")


class CallableChecker:
    def __init__(self, header="x-needed"):
        CREATED.append("CallableChecker")
        self.header = header

    def __call__(self, request):
        if self.header not in request.headers:
            return PlainTextResponse(f"missing {self.header}", status_code=400)
        return request


@spoc_asgi.blocking
class BlockingProcessor:
    def process(self, request):
        THREADS["BlockingProcessor"] = threading.get_ident()


class AppFirstWithProcess:
    # __init__ takes the app: shape 1, although it also has process(request).
    def __init__(self, app):
        self.app = app

    def process(self, request):
        raise AssertionError("shape 1 must not be called as a request function")

    async def __call__(self, scope, receive, send):
        EVENTS.append("asgi AppFirstWithProcess")
        await self.app(scope, receive, send)


class AsgiCallWithProcess:
    # __call__ takes (scope, receive, send): shape 1, although it has process(request).
    def __init__(self, application):
        self.application = application

    def process(self, request):
        raise AssertionError("shape 1 must not be called as a request function")

    async def __call__(self, scope, receive, send):
        EVENTS.append("asgi AsgiCallWithProcess")
        await self.application(scope, receive, send)


class asgi_entry:
    # A decorator that makes __call__ a callable object, not a function.
    def __init__(self, method):
        self.method = method

    def __get__(self, instance, owner):
        return lambda *args: self.method(instance, *args)


class WrappedCall:
    # __init__ requires one positional argument and there is no request method: the app.
    def __init__(self, application):
        self.application = application

    @asgi_entry
    async def __call__(self, scope, receive, send):
        EVENTS.append("asgi WrappedCall")
        await self.application(scope, receive, send)


class AsgiWithoutAppArgument:
    # Shape 1 by its __call__, but cls(app) cannot work.
    def __init__(self):
        pass

    async def __call__(self, scope, receive, send):
        pass


class Nothing:
    pass


def takes_nothing():
    pass


NUMBER = 3
"""


def configure(project: Project, middleware: list[str], extra: str = "") -> str:
    """Write the plugin module and a settings.py listing ``middleware``; return the module."""
    module = project.module(PLUGINS)
    uris = [f"{module}.{name}" for name in middleware]
    project.settings(f"PLUGINS = {{'middleware': {uris!r}}}\n{extra}")
    return module


def plugins(module: str) -> Any:
    return sys.modules[module]


async def endpoint(request: Request) -> PlainTextResponse:
    events = getattr(sys.modules.get(request.app.state.plugin_module), "EVENTS", [])
    events.append("endpoint")
    return PlainTextResponse("ok")


async def echo(request: Request) -> PlainTextResponse:
    return PlainTextResponse(await request.body())


async def thread_of_endpoint(request: Request) -> JSONResponse:
    return JSONResponse({"endpoint": threading.get_ident()})


async def show_state(request: Request) -> PlainTextResponse:
    return PlainTextResponse(getattr(request.state, "marked", "unmarked"))


ROUTES = [
    Route("/", endpoint),
    Route("/echo", echo, methods=["POST"]),
    Route("/thread", thread_of_endpoint),
    Route("/state", show_state),
]


def build(project: Project, middleware: list[str], extra: str = "", **kwargs: Any) -> Starlette:
    module = configure(project, middleware, extra)
    app = create_app(project.base_dir, routes=ROUTES, **kwargs)
    app.state.plugin_module = module
    return app


# -- order and options ------------------------------------------------------------------


def test_first_listed_is_outermost(project: Project) -> None:
    app = build(project, ["First", "Second", "Third"])
    with TestClient(app) as client:
        assert client.get("/").text == "ok"
    events = plugins(app.state.plugin_module).EVENTS
    assert events == [
        "enter first",
        "enter second",
        "enter third",
        "endpoint",
        "exit third",
        "exit second",
        "exit first",
    ]


async def test_first_listed_is_outermost_with_options_per_plugin(project: Project) -> None:
    extra = "MIDDLEWARE_CONFIG = {'First': {'label': 'a'}, 'Second': {'label': 'b'}}\n"
    module = configure(project, ["First", "Second", "Third"], extra)
    # The full-URI entry wins over the short name, in TOML too.
    project.toml(
        f"""
        [spoc.config.middleware]
        "{module}.Third" = {{ label = "c" }}
        Third = {{ label = "short name loses" }}
        """
    )
    app = create_app(project.base_dir, routes=ROUTES)
    app.state.plugin_module = module
    async with lifespan_client(app) as client:
        assert (await client.get("/")).text == "ok"
    assert plugins(module).EVENTS == [
        "enter a",
        "enter b",
        "enter c",
        "endpoint",
        "exit c",
        "exit b",
        "exit a",
    ]


def test_request_functions_and_asgi_classes_interleave_in_listed_order(project: Project) -> None:
    app = build(project, ["log_request", "First", "returns_none", "Processor"])
    with TestClient(app) as client:
        client.get("/")
    assert plugins(app.state.plugin_module).EVENTS == [
        "log /",
        "enter first",
        "none",
        "unset /",
        "endpoint",
        "exit first",
    ]


def test_middleware_instance_gets_configured_options_merged(project: Project) -> None:
    app = build(project, ["TAGGED"], "MIDDLEWARE_CONFIG = {'TAGGED': {'tag': 'from-config'}}")
    with TestClient(app) as client:
        response = client.get("/")
    assert response.headers["x-tag"] == "from-config"
    assert response.headers["x-other"] == "kept"


def test_middleware_instance_without_options_is_used_as_is(project: Project) -> None:
    app = build(project, ["TAGGED"])
    with TestClient(app) as client:
        assert client.get("/").headers["x-tag"] == "from-instance"


def test_caller_middleware_runs_inside_configured_middleware(project: Project) -> None:
    module = configure(project, ["First"])
    second = importlib.import_module(module).Second
    app = create_app(
        project.base_dir,
        routes=ROUTES,
        middleware=[Middleware(second, label="caller")],
    )
    app.state.plugin_module = module
    with TestClient(app) as client:
        client.get("/")
    assert plugins(module).EVENTS == [
        "enter first",
        "enter caller",
        "endpoint",
        "exit caller",
        "exit first",
    ]


def test_unknown_option_for_asgi_class_fails_at_build_time(project: Project) -> None:
    module = configure(project, ["Tagger"], "MIDDLEWARE_CONFIG = {'Tagger': {'colour': 'red'}}")
    with pytest.raises(ConfigurationError) as caught:
        create_app(project.base_dir)
    assert caught.value.id == "spoc.E021"
    message = str(caught.value)
    assert f"{module}.Tagger" in message
    assert "colour" in message
    assert "settings.py" in message


def test_middleware_rejecting_an_option_value_fails_at_build_time(project: Project) -> None:
    # Starlette builds middleware lazily (under uvicorn: during the lifespan); a
    # constructor refusing a value must fail create_app, naming the URI, instead.
    module = project.module(
        """
        class Strict:
            def __init__(self, app, limit=1):
                if limit < 1:
                    raise ValueError("limit must be at least 1")
                self.app = app

            async def __call__(self, scope, receive, send):
                await self.app(scope, receive, send)
        """
    )
    project.toml(
        f"""
        [spoc.plugins]
        middleware = ["{module}.Strict"]
        [spoc.config.middleware.Strict]
        limit = 0
        """
    )
    with pytest.raises(ConfigurationError) as caught:
        create_app(project.base_dir)
    assert caught.value.id == "spoc.E021"
    assert f"{module}.Strict" in str(caught.value)
    assert "limit must be at least 1" in str(caught.value)
    assert isinstance(caught.value.__cause__, ValueError)


def test_unknown_option_for_request_function_class_fails_at_build_time(project: Project) -> None:
    configure(project, ["Processor"], "MIDDLEWARE_CONFIG = {'Processor': {'colour': 'red'}}")
    with pytest.raises(ConfigurationError) as caught:
        create_app(project.base_dir)
    assert caught.value.id == "spoc.E021"
    assert isinstance(caught.value.__cause__, TypeError)


# -- shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["NUMBER", "Nothing", "takes_nothing"])
def test_entry_of_no_known_shape_is_a_configuration_error(project: Project, name: str) -> None:
    module = configure(project, [name])
    with pytest.raises(ConfigurationError) as caught:
        create_app(project.base_dir)
    error = caught.value
    assert error.id == "spoc.E016"
    assert error.check.uri == f"{module}.{name}"
    assert error.check.key == "middleware"
    assert error.check.file is not None and error.check.file.name == "settings.py"
    assert f"{module}.{name}" in str(error)
    assert "ASGI middleware class" in str(error)
    assert "request function" in str(error)


def test_class_whose_init_takes_the_app_is_asgi_middleware(project: Project) -> None:
    app = build(project, ["AppFirstWithProcess"])
    with TestClient(app) as client:
        assert client.get("/").text == "ok"
    assert "asgi AppFirstWithProcess" in plugins(app.state.plugin_module).EVENTS


def test_class_whose_call_takes_scope_receive_send_is_asgi_middleware(project: Project) -> None:
    app = build(project, ["AsgiCallWithProcess"])
    with TestClient(app) as client:
        assert client.get("/").text == "ok"
    assert "asgi AsgiCallWithProcess" in plugins(app.state.plugin_module).EVENTS


def test_class_whose_init_requires_an_argument_and_has_no_request_method_is_asgi(
    project: Project,
) -> None:
    app = build(project, ["WrappedCall"])
    with TestClient(app) as client:
        assert client.get("/").text == "ok"
    assert "asgi WrappedCall" in plugins(app.state.plugin_module).EVENTS


def test_asgi_class_that_cannot_take_the_app_fails_at_build_time(project: Project) -> None:
    module = configure(project, ["AsgiWithoutAppArgument"])
    with pytest.raises(ConfigurationError) as caught:
        create_app(project.base_dir)
    assert caught.value.id == "spoc.E021"
    assert f"{module}.AsgiWithoutAppArgument" in str(caught.value)


def test_request_function_class_is_instantiated_once_and_configured(project: Project) -> None:
    app = build(project, ["Processor"], "MIDDLEWARE_CONFIG = {'Processor': {'prefix': 'seen'}}")
    with TestClient(app) as client:
        client.get("/")
        client.get("/state")
    module = plugins(app.state.plugin_module)
    assert module.CREATED == ["Processor"]
    assert module.EVENTS == ["seen /", "endpoint", "seen /state"]


def test_callable_class_instances_are_request_functions(project: Project) -> None:
    app = build(project, ["CallableChecker"], "MIDDLEWARE_CONFIG = {'CallableChecker': {}}")
    with TestClient(app) as client:
        refused = client.get("/")
        allowed = client.get("/", headers={"x-needed": "1"})
    assert (refused.status_code, refused.text) == (400, "missing x-needed")
    assert allowed.text == "ok"
    assert plugins(app.state.plugin_module).CREATED == ["CallableChecker"]


# -- request function semantics ---------------------------------------------------------


@pytest.mark.parametrize("gate", ["async_gate", "sync_gate"])
async def test_returned_response_short_circuits(project: Project, gate: str) -> None:
    app = build(project, [gate])
    async with lifespan_client(app) as client:
        stopped = await client.get("/", headers={"x-stop": "1"})
        passed = await client.get("/")
    assert stopped.status_code == 418
    assert stopped.text.startswith("stopped")
    assert passed.text == "ok"
    assert plugins(app.state.plugin_module).EVENTS == ["endpoint"]  # once: not when stopped


def test_returning_request_or_none_goes_on(project: Project) -> None:
    app = build(project, ["log_request", "returns_none"])
    with TestClient(app) as client:
        assert client.get("/").text == "ok"
    assert plugins(app.state.plugin_module).EVENTS == ["log /", "none", "endpoint"]


def test_permission_error_is_403_with_its_message(project: Project) -> None:
    app = build(project, ["forbid"])
    with TestClient(app) as client:
        response = client.get("/")
    assert (response.status_code, response.text) == (403, "no entry for you")


def test_permission_error_from_the_os_is_403_without_details(project: Project) -> None:
    app = build(project, ["os_permission"])
    with TestClient(app) as client:
        response = client.get("/")
    assert (response.status_code, response.text) == (403, "Forbidden")


def test_http_exception_keeps_its_status(project: Project) -> None:
    app = build(project, ["not_found"])
    with TestClient(app) as client:
        response = client.get("/")
    assert (response.status_code, response.text) == (404, "nothing here")


def test_other_exception_is_a_500_without_traceback(project: Project) -> None:
    app = build(project, ["crash"], debug=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/")
    assert response.status_code == 500
    assert "middleware exploded" not in response.text
    assert "Traceback" not in response.text


async def test_other_exception_shows_traceback_in_debug(project: Project) -> None:
    app = build(project, ["crash"], debug=True)
    async with lifespan_client(app, raise_app_exceptions=False) as client:
        response = await client.get("/", headers={"accept": "text/plain"})
    assert response.status_code == 500
    assert "RuntimeError" in response.text
    assert "middleware exploded" in response.text


def test_other_exception_reaches_the_server(project: Project) -> None:
    app = build(project, ["crash"])
    with TestClient(app) as client, pytest.raises(RuntimeError, match="middleware exploded"):
        client.get("/")


def test_returning_something_else_is_an_error_naming_the_uri(project: Project) -> None:
    app = build(project, ["returns_junk"])
    with TestClient(app) as client, pytest.raises(TypeError) as caught:
        client.get("/")
    assert f"{app.state.plugin_module}.returns_junk" in str(caught.value)
    assert "dict" in str(caught.value)


def test_request_state_set_by_a_function_reaches_the_endpoint(project: Project) -> None:
    app = build(project, ["mark_state"])
    with TestClient(app) as client:
        assert client.get("/state").text == "yes"


def test_sync_function_runs_inline_on_the_event_loop(project: Project) -> None:
    app = build(project, ["log_request"])
    with TestClient(app) as client:
        loop_thread = client.get("/thread").json()["endpoint"]
    assert plugins(app.state.plugin_module).THREADS["log_request"] == loop_thread


async def test_blocking_function_runs_in_a_worker_thread(project: Project) -> None:
    app = build(project, ["blocking_function", "BlockingProcessor"])
    async with lifespan_client(app) as client:
        loop_thread = (await client.get("/thread")).json()["endpoint"]
    assert loop_thread == threading.get_ident()  # the test's own loop runs the app
    threads = plugins(app.state.plugin_module).THREADS
    assert threads["blocking_function"] != loop_thread
    assert threads["BlockingProcessor"] != loop_thread


@pytest.mark.parametrize("reader", ["reads_body", "reads_stream"])
async def test_body_read_by_a_function_stays_readable(project: Project, reader: str) -> None:
    app = build(project, [reader, "First"])
    with anyio.fail_after(30):  # a body that is not replayed would hang, not fail
        async with lifespan_client(app) as client:
            response = await client.post("/echo", content=b"payload bytes")
    assert response.text == "payload bytes"
    assert plugins(app.state.plugin_module).EVENTS[0] == b"payload bytes"


def test_json_read_by_a_function_stays_readable(project: Project) -> None:
    app = build(project, ["reads_json"])
    with TestClient(app) as client:
        response = client.post("/echo", json={"name": "spoc"})
    assert response.json() == {"name": "spoc"}
    assert plugins(app.state.plugin_module).EVENTS == ["spoc"]


def test_chunked_body_read_by_a_function_stays_readable(project: Project) -> None:
    app = build(project, ["reads_stream"])

    def chunks() -> Any:
        yield b"one "
        yield b"two"

    with TestClient(app) as client:
        response = client.post("/echo", content=chunks())
    assert response.text == "one two"


def test_websockets_pass_request_functions_untouched(project: Project) -> None:
    configure(project, ["forbid"])

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    app = create_app(project.base_dir, routes=[WebSocketRoute("/ws", ws)])
    with TestClient(app) as client, client.websocket_connect("/ws") as websocket:
        assert websocket.receive_text() == "hello"


# -- pure ASGI only ------------------------------------------------------------------------


def _stack(app: Any) -> list[Any]:
    layers = []
    while app is not None and len(layers) < 50:
        layers.append(app)
        app = getattr(app, "app", None)
    return layers


async def test_request_path_has_no_base_http_middleware(project: Project) -> None:
    app = build(project, ["log_request", "First", "Processor", "TAGGED"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get("/")).text == "ok"
    layers = _stack(app.middleware_stack)
    assert not [layer for layer in layers if isinstance(layer, BaseHTTPMiddleware)]
    kinds = [type(layer).__name__ for layer in layers]
    assert kinds[1] == "_LifespanGuard"  # no lifespan ran here: spoc_asgi's guard stays
    assert kinds[2] == "BodySizeLimit"  # [spoc] max_body_size, outside the group
    assert kinds[3:7] == [
        "RequestFunctionMiddleware",
        "First",
        "RequestFunctionMiddleware",
        "Tagger",
    ]
    assert sum(isinstance(layer, RequestFunctionMiddleware) for layer in layers) == 2


def test_no_module_uses_base_http_middleware() -> None:
    root = Path(__file__).resolve().parent.parent
    offenders = []
    for folder in ("spoc_asgi", "example_app"):
        for path in sorted((root / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Name | ast.Attribute):
                    name = node.id if isinstance(node, ast.Name) else node.attr
                    if name == "BaseHTTPMiddleware":
                        offenders.append(f"{path.relative_to(root)}:{node.lineno}")
                if isinstance(node, ast.ImportFrom) and node.module == "starlette.middleware.base":
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []


def test_the_adapters_request_matches_starlettes_request_state() -> None:
    # _Request skips Request.__init__ for speed and keeps its defaults on the class:
    # if Starlette ever sets another attribute in __init__, this fails first.
    from starlette.requests import Request

    from spoc_asgi.request_functions import _Request

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope: dict[str, Any] = {"type": "http", "headers": [(b"x-key", b"1")], "method": "GET"}
    reference = Request(scope, receive)
    lean = _Request(scope, receive)
    for name, value in vars(reference).items():
        assert getattr(lean, name) == value, name
    assert lean.headers["x-key"] == "1"


@pytest.mark.parametrize("raw", [[(b"x-key", b"1"), (b"x-key", b"2")], ((b"x-key", b"1"),)])
def test_the_adapters_headers_are_starlettes_headers(raw: Any) -> None:
    # The adapter builds Headers without Headers(scope=...)'s copy of a list: the object
    # must be the one Starlette would build, on every Starlette of the supported range.
    from starlette.datastructures import Headers

    from spoc_asgi.request_functions import _Request

    scope: dict[str, Any] = {"type": "http", "headers": raw}
    reference = Headers(scope={"headers": raw})
    headers = _Request(scope, None).headers  # type: ignore[arg-type]
    assert type(headers) is Headers
    assert vars(headers) == vars(reference)
    assert headers == reference and headers.getlist("x-key") == reference.getlist("x-key")
    assert type(scope["headers"]) is list  # as Headers(scope=...) leaves it


@pytest.mark.parametrize("read", ["body", "json", "stream"])
async def test_every_way_of_reading_the_body_goes_through_stream(read: str) -> None:
    # The layer replays what a function read: Starlette's body() and json() read through
    # _Request.stream(), which keeps the bytes in _body, on every supported version.
    from spoc_asgi.request_functions import _Request

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b'{"a": 1}', "more_body": False}

    request = _Request({"type": "http", "headers": [], "method": "POST"}, receive)
    assert not hasattr(request, "_body")
    if read == "stream":
        _ = [chunk async for chunk in request.stream()]
    else:
        await getattr(request, read)()
    assert request._body == b'{"a": 1}'


def test_options_for_a_plain_request_function_fail_at_build_time(project: Project) -> None:
    # A function cannot take options: silently dropping them would hide a mistake.
    module = configure(project, ["log_request"], "MIDDLEWARE_CONFIG = {'log_request': {'x': 1}}")
    with pytest.raises(ConfigurationError) as caught:
        create_app(project.base_dir)
    assert caught.value.id == "spoc.E021"
    assert f"{module}.log_request" in str(caught.value)
    assert "cannot take its options" in str(caught.value)
    assert "configure" in str(caught.value)


@pytest.mark.parametrize("status", [204, 304])
async def test_a_bodiless_http_exception_gets_a_bodiless_response(
    project: Project, status: int
) -> None:
    module = project.module(
        f"""
        from starlette.exceptions import HTTPException

        def not_modified(request):
            raise HTTPException({status})
        """
    )
    project.toml(f'[spoc.plugins]\nmiddleware = ["{module}.not_modified"]\n')
    async with lifespan_client(create_app(project.base_dir)) as client:
        response = await client.get("/")
    assert response.status_code == status
    assert response.content == b""
    assert "content-length" not in response.headers or response.headers["content-length"] == "0"


async def test_blocking_on_call_runs_a_callable_instance_in_a_worker_thread(
    project: Project,
) -> None:
    module = project.module(
        """
        import threading
        import spoc_asgi

        class Gate:
            def __init__(self):
                self.threads = []

            @spoc_asgi.blocking
            def __call__(self, request):
                self.threads.append(threading.get_ident())

        gate = Gate()
        """
    )
    project.toml(f'[spoc.plugins]\nmiddleware = ["{module}.gate"]\n')
    async with lifespan_client(create_app(project.base_dir)) as client:
        await client.get("/")
    assert sys.modules[module].gate.threads
    assert threading.get_ident() not in sys.modules[module].gate.threads


async def test_a_body_a_function_sets_is_the_body_the_app_reads(project: Project) -> None:
    # Starlette's own idiom for replacing a request body, kept by the replay.
    module = project.module(
        """
        from starlette.responses import Response
        from starlette.routing import Route

        def replace_body(request):
            request._body = b"replaced"

        async def echo(request):
            return Response(await request.body())

        routes = [Route("/echo", echo, methods=["POST"])]
        """
    )
    project.toml(
        f'[spoc.plugins]\nmiddleware = ["{module}.replace_body"]\nroutes = ["{module}.routes"]\n'
    )
    async with lifespan_client(create_app(project.base_dir)) as client:
        response = await client.post("/echo", content=b"original")
    assert response.text == "replaced"
