"""The documentation runs: no example in docs/ can drift from the code.

* Every ```python and ```toml fence in docs/*.md is tested. A fence is either a
  snippet include (``--8<--`` block) of a file of an example project, which a test
  below builds, serves and queries, or inline code: Python is executed, TOML is
  parsed and loaded as a spoc.toml. A ``<!-- docs-test: ... -->`` line before a fence
  turns it into a one-file project that ``spoc-asgi check`` must find clean (or must
  find exactly the id after ``expect``).
* Each example project under docs/examples/ has a test that makes the requests its page
  describes, compares what the page shows (outputs, messages, logs) with what the code
  produces, and proves that every one of its files was imported or loaded.
* The checks page lists every id, title and hint of ``spoc_asgi.checks.CATALOGUE``.
* ``mkdocs build --strict`` passes.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import logging
import os
import re
import runpy
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import Mount, Router

import spoc_asgi
from spoc_asgi import BackendNotReadyError, SpocError, create_app
from spoc_asgi.backends.sql import SQLDatabase
from spoc_asgi.checks import CATALOGUE, Reporter
from spoc_asgi.cli import inspect_project
from spoc_asgi.cli import main as cli_main
from spoc_asgi.config import load_config
from spoc_asgi.framework import Framework
from spoc_asgi.testing import lifespan_client
from tests.conftest import warnings_as_errors

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib
    from exceptiongroup import ExceptionGroup

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
PAGES = sorted(DOCS.glob("*.md"))

# Environment variables the examples' settings read: tests start without them.
EXAMPLE_ENVIRONMENT = (
    "API_TOKEN",
    "API_TOKENS",
    "READ_ONLY_TOKENS",
    "WEBHOOK_SECRET",
    "AUDIT_LOG",
    "MYAPP_REQUIRE_KEY",
    "MYAPP_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "PG_DSN",
    "GEOCODER_API_KEY",
)

# Files outside docs/examples/ that pages include in python/toml fences, and the test
# that loads them.
EXTERNAL_INCLUDES = {"example_app/config/spoc.toml": "test_example_app_config_is_the_included_one"}


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


# -- fences ---------------------------------------------------------------------------

PYTHON = {"python", "py"}
TOML = {"toml"}
UNSUPPORTED_PYTHON = {"pycon", "python3", "py3", "ipython"}
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<mark>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
_MARKER = re.compile(r"<!--\s*docs-test:\s*(?P<spec>.*?)\s*-->")
SNIPPET = "--8<--"


@dataclass(frozen=True)
class Fence:
    page: Path
    line: int
    lang: str
    text: str
    marker: str | None

    @property
    def where(self) -> str:
        return f"docs/{self.page.name}:{self.line}"

    @property
    def includes(self) -> list[str] | None:
        """The included paths if the fence is a snippet include, else None.

        Includes use the block form (``--8<--``, one path per line, ``--8<--``): ruff
        formats Python fences in Markdown, and leaves this form alone.
        """
        lines = [line.strip() for line in self.text.splitlines() if line.strip()]
        if not any(SNIPPET in line for line in lines):
            return None
        block = len(lines) >= 3 and lines[0] == lines[-1] == SNIPPET
        assert block and SNIPPET not in "".join(lines[1:-1]), (
            f"{self.where}: a snippet include is a block of its own: --8<--, paths, --8<--"
        )
        return lines[1:-1]


def parse_fences(path: Path) -> list[Fence]:
    fences: list[Fence] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, mark = opening.group("indent"), opening.group("mark")
        body: list[str] = []
        end = index + 1
        while end < len(lines) and lines[end].strip() != mark:
            body.append(lines[end][len(indent) :] if lines[end].startswith(indent) else lines[end])
            end += 1
        previous = next((line for line in reversed(lines[:index]) if line.strip()), "")
        marker = _MARKER.search(previous)
        fences.append(
            Fence(
                path,
                index + 1,
                opening.group("lang").lower(),
                "\n".join(body) + "\n",
                marker.group("spec") if marker else None,
            )
        )
        index = end + 1
    return fences


ALL_FENCES = [fence for path in PAGES for fence in parse_fences(path)]
CODE_FENCES = [f for f in ALL_FENCES if f.lang in PYTHON | TOML | UNSUPPORTED_PYTHON]


def test_the_fence_scanner_finds_the_examples() -> None:
    # A scanner that found nothing would make every fence test vacuous.
    assert len(CODE_FENCES) >= 60
    assert {f.page.name for f in CODE_FENCES} >= {"index.md", "checks.md", "middleware.md"}


@pytest.mark.parametrize("fence", ALL_FENCES, ids=lambda f: f.where)
def test_every_fence_names_its_language(fence: Fence) -> None:
    assert fence.lang, f"{fence.where}: say which language this block is (```python, ```text)"


@pytest.mark.parametrize("fence", CODE_FENCES, ids=lambda f: f.where)
def test_every_python_and_toml_block_is_tested(
    fence: Fence, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert fence.lang not in UNSUPPORTED_PYTHON, f"{fence.where}: use ```python, with asserts"
    includes = fence.includes
    if includes is not None:
        assert fence.marker is None, f"{fence.where}: a marker on an include does nothing"
        for include in includes:
            assert_tested_include(fence, include)
        return
    monkeypatch.chdir(tmp_path)
    if fence.marker is not None:
        run_marked_fence(fence, tmp_path)
    elif fence.lang in PYTHON:
        code = compile(fence.text, fence.where, "exec")
        exec(code, {"__name__": "__docs__"})
    else:
        document = tomllib.loads(fence.text)
        if "spoc" in document:  # a spoc.toml: it must load without a problem
            (tmp_path / "spoc.toml").write_text(fence.text, encoding="utf-8")
            reporter = Reporter(strict=False)
            load_config(tmp_path, reporter)
            assert reporter.messages == [], f"{fence.where}: {reporter.messages}"


def assert_tested_include(fence: Fence, include: str) -> None:
    path_text, _, section = include.partition(":")
    path = ROOT / path_text
    assert path.is_file(), f"{fence.where}: {include} does not exist"
    if section and not section[0].isdigit():
        assert f"[start:{section}]" in path.read_text(encoding="utf-8"), include
    else:
        assert not section, f"{fence.where}: include a section by name, not by lines"
    if path_text in EXTERNAL_INCLUDES:
        assert EXTERNAL_INCLUDES[path_text] in globals()
        return
    assert path.is_relative_to(EXAMPLES), f"{fence.where}: {include} is not an example file"
    example = path.relative_to(EXAMPLES).parts[0]
    assert example in EXAMPLE_TESTS, f"{fence.where}: no test builds docs/examples/{example}"


def run_marked_fence(fence: Fence, tmp_path: Path) -> None:
    """``<!-- docs-test: spoc.toml|settings.py[, expect ID] -->``: the fence is that file of
    a project; ``spoc-asgi check`` on it reports exactly ID (or nothing).
    ``<!-- docs-test: python, expect ID -->``: Python that builds a project of several
    files in the current directory and asserts that ID is reported."""
    spec = re.fullmatch(
        r"(spoc\.toml|settings\.py|python)(?:,\s*expect\s+(spoc\.[EW]\d{3}))?",
        fence.marker or "",
    )
    assert spec, f"{fence.where}: unknown marker {fence.marker!r}"
    kind, expected = spec.groups()
    if kind == "python":  # a project of several files: the code builds it and asserts the id
        assert fence.lang in PYTHON and expected, f"{fence.where}: python needs an expect"
        assert f'"{expected}"' in fence.text, f"{fence.where}: does not assert {expected}"
        exec(compile(fence.text, fence.where, "exec"), {"__name__": "__docs__"})
        return
    assert (kind == "settings.py") == (fence.lang in PYTHON), f"{fence.where}: {kind} fence"
    base = tmp_path / "project"
    (base / "config").mkdir(parents=True)
    (base / "config" / kind).write_text(fence.text, encoding="utf-8")
    problems = inspect_project(base).problems
    found = sorted({problem.id for problem in problems})
    assert found == ([expected] if expected else []), f"{fence.where}: {problems}"


def test_json_blocks_are_json() -> None:
    blocks = [f for f in ALL_FENCES if f.lang == "json"]
    assert blocks
    for fence in blocks:
        json.loads(fence.text)


# -- example projects ------------------------------------------------------------------


@dataclass
class Example:
    """One project under docs/examples/, importable while the test runs."""

    root: Path
    touched: set[Path] = field(default_factory=set)

    def path(self, relative: str = "") -> Path:
        return self.root / relative if relative else self.root

    def app(self, relative: str = "", **kwargs: Any) -> Starlette:
        app = create_app(self.path(relative), **kwargs)
        self.note_config(app.state.framework)
        return app

    def note_config(self, framework: Framework) -> None:
        for path in (framework.config.toml_path, framework.config.settings_path):
            if path is not None:
                self.touched.add(path)

    def touch(self, *relative: str) -> None:
        for name in relative:
            assert self.path(name).is_file(), name
            self.touched.add(self.path(name))

    def assert_exercised(self) -> None:
        """Every .py and .toml file of the example was imported, loaded or run here."""
        imported = {
            Path(module.__file__).resolve()
            for module in list(sys.modules.values())
            if getattr(module, "__file__", None)
        }
        files = {p for p in self.root.rglob("*") if p.suffix in (".py", ".toml")}
        missed = sorted(
            str(p.relative_to(self.root)) for p in files if p not in imported | self.touched
        )
        assert missed == [], f"files of {self.root.name} no test exercised: {missed}"


def _purge_example_modules() -> None:
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve().is_relative_to(EXAMPLES):
            del sys.modules[name]


@pytest.fixture
def use_example(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Callable[[str], Example]]:
    """Put one example on sys.path (as running from its directory would), with a clean
    environment, a scratch working directory and no bytecode written into docs/."""
    for name in EXAMPLE_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.chdir(tmp_path)
    _purge_example_modules()

    def use(name: str) -> Example:
        root = EXAMPLES / name
        assert root.is_dir(), name
        monkeypatch.syspath_prepend(str(root))
        return Example(root)

    yield use
    _purge_example_modules()


def run_cli(
    capsys: pytest.CaptureFixture[str], *args: str, base_dir: Path, shown_as: str
) -> tuple[int, str]:
    """``spoc-asgi ARGS --base-dir base_dir``; the output with the base dir shown as in docs."""
    status = cli_main([*args, "--base-dir", str(base_dir)])
    output = capsys.readouterr().out
    return status, output.replace(str(base_dir), shown_as)


def fence_after(text: str, first_line: str) -> str:
    """The body of the fence whose first line is ``first_line``."""
    found = re.search(rf"```\w*\n({re.escape(first_line)}\n.*?)```", text, re.S)
    assert found, f"no block starting with {first_line!r}"
    return found.group(1)


# quickstart ---------------------------------------------------------------------------


async def test_quickstart(
    use_example: Callable[[str], Example], capsys: pytest.CaptureFixture[str]
) -> None:
    example = use_example("quickstart")
    from myapp.asgi import app  # the module the page tells uvicorn to serve

    example.note_config(app.state.framework)
    async with lifespan_client(app) as client:
        first = await client.get("/")
        second = await client.get("/")
    assert first.json() == {"message": "Hello from a hook", "visits": 1}
    assert second.json()["visits"] == 2
    index = page("index.md")
    assert f"$ curl http://127.0.0.1:8000/\n{first.text}\n" in index

    status, output = run_cli(capsys, "check", base_dir=example.root, shown_as="/home/me/quickstart")
    assert (status, output) == (0, "no problems found\n")
    assert "$ spoc-asgi check\nno problems found\n" in index

    status, output = run_cli(
        capsys, "plugins", base_dir=example.root, shown_as="/home/me/quickstart"
    )
    assert status == 0
    assert f"$ spoc-asgi plugins\n{output}```" in page("cli.md")
    example.assert_exercised()


async def test_overriding_a_group_the_app_lacks_adds_it(
    use_example: Callable[[str], Example],
) -> None:
    example = use_example("quickstart")
    app = example.app()

    class Store:
        async def connect(self) -> None: ...
        async def disconnect(self) -> None: ...

    store = Store()
    async with lifespan_client(app, overrides={"database": store}):
        assert app.state.database is store
    assert "A group the app has no backend for gets the replacement" in page("testing.md")


def test_example_app_config_is_the_included_one() -> None:
    framework = Framework(ROOT / "example_app")
    assert framework.config.toml_path == ROOT / "example_app/config/spoc.toml"
    assert "--8<--\nexample_app/config/spoc.toml\n--8<--" in page("index.md")


# configuration --------------------------------------------------------------------------


async def test_configuration(
    use_example: Callable[[str], Example], monkeypatch: pytest.MonkeyPatch
) -> None:
    example = use_example("configuration")
    runpy.run_path(str(example.path("show_config.py")))  # its asserts are the page's claims
    example.touch("show_config.py")

    app = example.app()
    token = {"Authorization": "Bearer dev-token"}
    async with lifespan_client(app) as client:
        # cors is outermost: a preflight is answered before auth asks for a token.
        preflight = await client.options(
            "/about",
            headers={"Origin": "https://example.com", "Access-Control-Request-Method": "GET"},
        )
        refused = await client.get("/about")
        about = await client.get("/about", headers=token)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://example.com"
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="staff"'
    assert about.json() == {"mode": "development", "debug": False, "greeting": "hello"}

    # The environment: SPOC_MODE/SPOC_DEBUG override the TOML; settings.py reads the rest.
    monkeypatch.setenv("SPOC_MODE", "production")
    monkeypatch.setenv("SPOC_DEBUG", "on")
    monkeypatch.setenv("API_TOKEN", "from-the-environment")
    app = example.app()
    assert app.debug is True
    assert [m.id for m in app.state.framework.reporter.messages] == ["spoc.W003"]
    async with lifespan_client(app) as client:
        assert (await client.get("/about", headers=token)).status_code == 401
        about = await client.get("/about", headers={"Authorization": "Bearer from-the-environment"})
    assert about.json()["mode"] == "production"
    example.assert_exercised()


# middleware ------------------------------------------------------------------------------


def middleware_chain(app: Starlette) -> list[str]:
    names, layer = [], app.build_middleware_stack()
    while not isinstance(layer, Router):
        names.append(type(layer).__name__)
        layer = layer.app
    return [*names, "Router"]


async def test_middleware(
    use_example: Callable[[str], Example],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    example = use_example("middleware")
    audit_log = tmp_path / "audit.log"
    monkeypatch.setenv("AUDIT_LOG", str(audit_log))
    from myapp.app import app

    example.note_config(app.state.framework)
    assert middleware_chain(app) == [
        "ServerErrorMiddleware",
        "_LifespanGuard",  # placeholders naming the fix while the lifespan is not running
        "BodySizeLimit",  # [spoc] max_body_size, outside the group
        "RequestId",
        "GZipMiddleware",
        "RequestFunctionMiddleware",  # four request functions in a row share one layer
        "ServerTiming",  # the caller's middleware=, inside the group
        "ExceptionMiddleware",
        "Router",
    ]
    text = page("middleware.md")
    diagram = fence_after(text, "flowchart TB")  # the mermaid onion, outermost first
    layers = [
        *["ServerErrorMiddleware", "entry 1", "entries 2"],
        *["create_app(middleware=", "ExceptionMiddleware"],
    ]
    positions = [diagram.index(name) for name in [*layers, "Router"]]
    assert positions == sorted(positions)

    body = json.dumps({"event": "paid"}).encode()
    signature = hmac.new(b"dev-secret", body, hashlib.sha256).hexdigest()
    token = {"Authorization": "Bearer dev-token"}
    async with lifespan_client(app) as client:
        refused = await client.get("/")
        home = await client.get("/", headers=token)
        read_only = await client.post("/notes", headers={"Authorization": "Bearer viewer-token"})
        saved = await client.post("/notes", headers=token)
        forged = await client.post(
            "/webhook", content=body, headers={**token, "X-Signature": "forged"}
        )
        signed = await client.post(
            "/webhook", content=body, headers={**token, "X-Signature": signature}
        )
        report = await client.get("/report", headers={**token, "Accept-Encoding": "gzip"})

    assert (refused.status_code, refused.json()) == (401, {"error": "unauthorized"})
    assert "x-request-id" in refused.headers and "server-timing" not in refused.headers
    assert home.status_code == 200
    assert home.json() == {"request_id": home.headers["x-request-id"]}
    assert home.headers["server-timing"] == "app"
    assert (read_only.status_code, read_only.text) == (403, "this token is read-only")
    assert saved.json() == {"saved": True}
    assert (forged.status_code, forged.text) == (401, "bad signature")
    assert signed.json() == {"received": {"event": "paid"}}
    assert report.headers["content-encoding"] == "gzip"
    logged = audit_log.read_text(encoding="utf-8").splitlines()
    assert [line.split(" ", 1)[1] for line in logged] == ["POST /notes", "POST /webhook"]
    for claim in ("403 this token is read-only", "401 bad signature", "`401`, with `X-Request-ID`"):
        assert claim in text

    _, output = run_cli(capsys, "plugins", base_dir=example.root, shown_as=".")
    onion = next(line for line in output.splitlines() if line.strip().startswith("onion:"))
    assert f"$ spoc-asgi plugins\n...\n{onion}\n" in text
    example.assert_exercised()


async def test_request_function_return_values_and_errors(project: Any) -> None:
    """The table of request-function outcomes on the middleware page."""
    module = project.module(
        """
        from starlette.exceptions import HTTPException
        from starlette.responses import PlainTextResponse

        def outcome(request):
            kind = request.query_params.get("kind")
            if kind == "response":
                return PlainTextResponse("short-circuit", status_code=202)
            if kind == "http":
                raise HTTPException(418, "teapot", headers={"X-Why": "tea"})
            if kind == "os":
                raise PermissionError(13, "Permission denied", "/etc/secret")
            if kind == "value":
                return 42
            if kind == "boom":
                raise RuntimeError("boom")
            return None if kind == "none" else request
        """
    )
    project.toml(f'[spoc.plugins]\nmiddleware = ["{module}.outcome"]\n')
    app = create_app(project.base_dir)
    async with lifespan_client(app, raise_app_exceptions=False) as client:
        answers = {
            kind: await client.get("/", params={"kind": kind})
            for kind in ("request", "none", "response", "http", "os", "value", "boom")
        }
    assert answers["request"].status_code == answers["none"].status_code == 404  # went on
    assert (answers["response"].status_code, answers["response"].text) == (202, "short-circuit")
    assert (answers["http"].status_code, answers["http"].text) == (418, "teapot")
    assert answers["http"].headers["x-why"] == "tea"
    assert (answers["os"].status_code, answers["os"].text) == (403, "Forbidden")
    assert answers["value"].status_code == answers["boom"].status_code == 500


# hooks and the lifespan --------------------------------------------------------------


def log_pattern(line: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in line.split("...")))


async def test_hooks(
    use_example: Callable[[str], Example], caplog: pytest.LogCaptureFixture
) -> None:
    example = use_example("hooks")
    caplog.set_level(logging.INFO)
    app = example.app()
    async with lifespan_client(app) as client:
        home = (await client.get("/")).json()
    assert home == {"motd": "Welcome back", "http_client_open": True}

    logged = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        # A step's own timing line appears only when it took over 100 ms: machine-dependent.
        if r.name in ("myapp", "spoc_asgi") and " started in " not in r.getMessage()
    ]
    documented = fence_after(page("hooks.md"), "myapp: settings checked").splitlines()
    assert len(logged) == len(documented), logged
    for line, expected in zip(logged, documented, strict=True):
        assert log_pattern(expected).fullmatch(line), (line, expected)
    example.assert_exercised()


async def test_a_sync_hook_failing_fails_startup(
    use_example: Callable[[str], Example], monkeypatch: pytest.MonkeyPatch
) -> None:
    use_example("hooks")
    monkeypatch.setenv("MYAPP_REQUIRE_KEY", "1")
    app = create_app(EXAMPLES / "hooks")
    with pytest.raises(SpocError, match=r"hook 'myapp.hooks.check_settings' raised RuntimeError"):
        async with lifespan_client(app):
            pass  # pragma: no cover


async def test_lifespan_failures(
    use_example: Callable[[str], Example], caplog: pytest.LogCaptureFixture
) -> None:
    example = use_example("lifespan_failures")
    caplog.set_level(logging.INFO, logger="payments")
    text = page("hooks.md")

    for project in ("startup", "timeout"):
        caplog.clear()
        with pytest.raises(SpocError) as failed:
            async with lifespan_client(example.app(project)):
                pass  # pragma: no cover
        assert f"```text\nspoc_asgi.errors.SpocError: {failed.value}\n```" in text
        assert [r.getMessage() for r in caplog.records] == ["pool opened", "pool closed"]

    caplog.clear()
    with pytest.raises(ExceptionGroup) as group:
        async with lifespan_client(example.app("shutdown")):
            pass
    shown = fence_after(text, f"ExceptionGroup: {group.value}")
    assert shown.splitlines()[1:] == [f"  SpocError: {e}" for e in group.value.exceptions]
    assert all(isinstance(e, SpocError) for e in group.value.exceptions)
    assert [r.getMessage() for r in caplog.records] == ["pool opened", "pool closed"]
    example.assert_exercised()


async def test_the_callers_lifespan_state_reaches_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The page's inline example, plus a route that reads the state its lifespan yields.
    fence = next(f for f in CODE_FENCES if f.page.name == "hooks.md" and "started_by" in f.text)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    exec(compile(fence.text, fence.where, "exec"), namespace)
    app: Starlette = namespace["app"]

    async def read_state(scope: Any, receive: Any, send: Any) -> None:
        from starlette.responses import PlainTextResponse

        await PlainTextResponse(scope["state"]["started_by"])(scope, receive, send)

    app.router.routes.append(Mount("/state", app=read_state))
    async with lifespan_client(app) as client:
        assert (await client.get("/state/")).text == "my lifespan"


# backends --------------------------------------------------------------------------------


async def bookmark_scenario(app: Starlette) -> None:
    async with lifespan_client(app) as client:
        await app.state.cache.clear()
        created = await client.post(
            "/bookmarks", json={"url": "https://www.starlette.io", "title": "Starlette"}
        )
        assert created.status_code == 201
        bookmark = created.json()
        path = f"/bookmarks/{bookmark['id']}"
        first, second = await client.get(path), await client.get(path)
        assert first.json() == second.json() == bookmark
        assert (first.headers["x-source"], second.headers["x-source"]) == ("database", "cache")
        renamed = await client.post("/bookmarks/rename")
        assert renamed.json()["renamed"] >= 1
        after = await client.get(path)
        assert (after.headers["x-source"], after.json()["title"]) == ("database", "STARLETTE")
        assert (await client.get("/bookmarks/999999")).status_code == 404


async def test_backends_on_sqlite_and_the_memory_cache(
    use_example: Callable[[str], Example], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = use_example("backends")
    # Without DATABASE_URL the relative SQLite path is taken from the base dir: use a copy.
    base = tmp_path / "project"
    (base / "config").mkdir(parents=True)
    for name in ("spoc.toml", "settings.py"):
        source = example.path(f"config/{name}")
        (base / "config" / name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(tmp_path / "project" / "config")  # a cwd that is not the base dir
    app = create_app(base)
    with pytest.raises(BackendNotReadyError) as not_ready:
        await app.state.database.fetch_all("SELECT 1")
    assert f"spoc_asgi.errors.BackendNotReadyError: {not_ready.value}\n" in page("backends.md")
    assert not app.state.database
    await bookmark_scenario(app)
    assert (base / "bookmarks.sqlite3").is_file()
    assert list(app.state.caches) == ["spoc_asgi.backends.memory.MemoryCache"]
    example.note_config(create_app(example.root).state.framework)
    example.assert_exercised()


async def drop_bookmarks(url: str) -> None:
    database = SQLDatabase(url=url)
    await database.connect()
    try:
        await database.execute("DROP TABLE IF EXISTS bookmarks")
    finally:
        await database.disconnect()


@pytest.mark.postgres
async def test_backends_on_postgres(
    use_example: Callable[[str], Example], monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    example = use_example("backends")
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    await drop_bookmarks(postgres_url)
    try:
        await bookmark_scenario(example.app())
    finally:
        await drop_bookmarks(postgres_url)


@pytest.mark.redis
async def test_backends_on_redis(
    use_example: Callable[[str], Example],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    redis_url: str,
) -> None:
    example = use_example("backends")
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/bookmarks.sqlite3")
    monkeypatch.setenv("REDIS_URL", redis_url)
    app = example.app()
    assert list(app.state.caches) == ["spoc_asgi.backends.redis.RedisCache"]
    await bookmark_scenario(app)


async def test_custom_backend_is_built_with_its_options(
    use_example: Callable[[str], Example],
) -> None:
    example = use_example("custom_backend")
    app = example.app()
    (pool,) = app.state.spoc_runtime.backends.groups["database"].values()
    assert (pool.dsn, pool.min_size, pool.max_size) == (
        "postgresql://postgres@127.0.0.1:5432/app",
        1,
        5,
    )
    example.assert_exercised()


@pytest.mark.postgres
async def test_custom_backend_on_postgres(
    use_example: Callable[[str], Example], monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    example = use_example("custom_backend")
    monkeypatch.setenv("PG_DSN", postgres_url.replace("postgresql+asyncpg://", "postgresql://"))
    app = example.app()
    async with lifespan_client(app) as client:
        version = (await client.get("/version")).json()["server"]
    assert re.match(r"\d+", version)
    assert app.state.database.__class__.__name__ == "NotReady"
    example.assert_exercised()


# mounting --------------------------------------------------------------------------------


async def test_mounting(use_example: Callable[[str], Example]) -> None:
    example = use_example("mounting")
    from myapp.fastapi_host import app as fastapi_app
    from myapp.starlette_host import host, spoc_app

    example.note_config(spoc_app.state.framework)
    async with lifespan_client(fastapi_app) as client:
        items = (await client.get("/items")).json()
        motd = (await client.get("/motd")).json()
        assert (await client.get("/openapi.json")).status_code == 200
    assert items == {"items": [], "motd": "hello from spoc"}
    assert motd == {"motd": "hello from spoc", "tagged": True}

    async with lifespan_client(host) as client:
        assert (await client.get("/")).text == "the host"
        assert (await client.get("/spoc/motd")).json() == motd
    example.assert_exercised()


async def test_plain_mount_skips_the_lifespan_and_spoc_mount_works_in_fastapi(
    use_example: Callable[[str], Example],
) -> None:
    example = use_example("mounting")
    plain = Starlette(routes=[Mount("/spoc", app=example.app())])
    async with lifespan_client(plain, raise_app_exceptions=False) as client:
        assert (await client.get("/spoc/motd")).status_code == 500  # no cache: hooks never ran

    host = FastAPI()
    spoc_asgi.mount(host, "/spoc", example.app())
    async with lifespan_client(host) as client:
        assert (await client.get("/spoc/motd")).json()["motd"] == "hello from spoc"


# typed access -----------------------------------------------------------------------------


async def test_the_typed_example_serves_through_typed_access(
    use_example: Callable[[str], Example],
) -> None:
    from spoc_asgi.testing import memory_backends

    example = use_example("typed")
    from myapp.api import app  # FastAPI, with the spoc parts installed

    async with lifespan_client(app, overrides=memory_backends(app)) as client:
        assert (await client.post("/notes", json={"body": "hi"})).json() == {"added": 1}
        assert (await client.get("/notes")).json() == {
            "notes": [{"id": 1, "body": "hi"}],
            "added": 1,
        }
    example.touch("config/spoc.toml")
    example.assert_exercised()


# testing ----------------------------------------------------------------------------------


def test_the_testing_example_suite_passes(use_example: Callable[[str], Example]) -> None:
    example = use_example("testing")
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in EXAMPLE_ENVIRONMENT and not key.startswith("SPOC_")
    }
    # Warnings are errors: the documented setup runs clean on the supported range.
    command = [sys.executable, "-m", "pytest", "-q", *warnings_as_errors()]
    done = subprocess.run(
        [*command, "-p", "no:cacheprovider", str(example.root)],
        cwd=ROOT,
        env={**environment, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b4 passed\b", done.stdout), done.stdout
    # The run loaded every file (pytest the tests, create_app the plugins) but myapp/asgi.py,
    # which a server imports (see the page).
    example.touch(*(str(p.relative_to(example.root)) for p in example.root.rglob("*.py")))
    example.touch("config/spoc.toml", "pyproject.toml")
    example.assert_exercised()


def test_a_test_client_without_with_runs_no_lifespan(
    use_example: Callable[[str], Example],
) -> None:
    from starlette.testclient import TestClient

    use_example("testing")
    app = create_app(EXAMPLES / "testing")
    client = TestClient(app)  # not as a context manager
    with pytest.raises(BackendNotReadyError, match="lifespan is not running"):
        client.post("/hit/home")
    with pytest.raises(BackendNotReadyError):
        app.state.database.fetch_all("SELECT 1")
    assert "both `request.state.database` and `app.state.database` raise" in page("testing.md")


# URIs, check and the CLI's JSON --------------------------------------------------------


def test_uris_and_check(
    use_example: Callable[[str], Example], capsys: pytest.CaptureFixture[str]
) -> None:
    example = use_example("uris")
    status, output = run_cli(capsys, "check", base_dir=example.root, shown_as="/home/me/uris")
    assert status == 1
    assert f"$ spoc-asgi check\n{output}```" in page("plugins.md")
    cli_page = page("cli.md")
    assert output.splitlines()[0] + "\n" in cli_page
    assert output.splitlines()[-1] in cli_page

    status, output = run_cli(
        capsys, "check", "--json", base_dir=example.root, shown_as="/home/me/uris"
    )
    data = json.loads(output)
    assert [p["id"] for p in data["problems"]] == ["spoc.E013", "spoc.E014", "spoc.E015"]
    data["problems"] = data["problems"][:1]
    documented = json.loads(fence_after(cli_page, '{\n  "base_dir": "/home/me/uris",'))
    assert documented == data

    with pytest.raises(spoc_asgi.PluginImportError) as first:
        create_app(example.root)
    example.touch("config/spoc.toml")
    assert first.value.id == "spoc.E013"
    assert str(first.value).replace(str(example.root) + "/", "") in page("checks.md")
    example.touch("myapp/geo.py")  # imported by check, which reported its KeyError (E014)
    example.assert_exercised()


# the checks page ------------------------------------------------------------------------


def test_the_checks_page_lists_every_check_with_its_title_and_hint() -> None:
    text = page("checks.md")
    for spec in CATALOGUE.values():
        assert f"### {spec.id}: {spec.title} {{#{spec.id}}}\n" in text, spec.id
        assert f"**Fix.** {spec.hint}\n" in text, spec.id
    assert set(re.findall(r"spoc\.[EW]\d{3}", text)) == set(CATALOGUE)


def test_every_check_with_an_example_is_proven_by_it() -> None:
    proven = {
        m.group(2)
        for f in CODE_FENCES
        if f.page.name == "checks.md" and (m := re.search(r"(expect)\s+(\S+)", f.marker or ""))
    }
    # spoc.E014 needs a module that fails to import: its example is on the plugins page.
    # spoc.E052 and spoc.W030 need a marked hook of your own: tests/test_checks.py.
    assert proven == set(CATALOGUE) - {"spoc.E014", "spoc.E052", "spoc.W030"}


# every example has a test -----------------------------------------------------------------

EXAMPLE_TESTS = {
    "quickstart": "test_quickstart",
    "configuration": "test_configuration",
    "middleware": "test_middleware",
    "hooks": "test_hooks",
    "lifespan_failures": "test_lifespan_failures",
    "backends": "test_backends_on_sqlite_and_the_memory_cache",
    "custom_backend": "test_custom_backend_is_built_with_its_options",
    "mounting": "test_mounting",
    "testing": "test_the_testing_example_suite_passes",
    "typed": "test_the_typed_example_serves_through_typed_access",
    "uris": "test_uris_and_check",
}


def test_every_example_project_has_a_test() -> None:
    projects = {p.name for p in EXAMPLES.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert projects == set(EXAMPLE_TESTS)
    for test in EXAMPLE_TESTS.values():
        assert callable(globals().get(test)), test


# the site ---------------------------------------------------------------------------------


def test_mkdocs_builds_strictly(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (it is in the dev extra)")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    assert (tmp_path / "site" / "checks" / "index.html").is_file()
    assert not (tmp_path / "site" / "examples").exists()
    # The diagrams reach the pages as mermaid blocks, which mkdocs-material draws.
    for page_dir in ("middleware", "hooks"):
        html = (tmp_path / "site" / page_dir / "index.html").read_text(encoding="utf-8")
        assert '<pre class="mermaid"><code>' in html, page_dir
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for path in PAGES:
        assert f": {path.name}\n" in nav, f"{path.name} is not in the nav"
