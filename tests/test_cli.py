"""The ``spoc-asgi`` command line: plugins, check and run (docs/cli.md)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from spoc_asgi.cli import BASE_DIR_ENV, DEFAULT_APP, app_from_env, build_parser, main
from spoc_asgi.cli import uvicorn_arguments as uvicorn_arguments_of
from tests.conftest import Project

SECRET = "hunter2"


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# -- plugins ----------------------------------------------------------------------------------


@pytest.fixture
def listed(project: Project) -> tuple[Project, str]:
    """A project using each kind of entry, in both files."""
    module = project.module(
        """
        from starlette.middleware import Middleware
        from starlette.middleware.gzip import GZipMiddleware
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route


        class Timing:
            def __init__(self, app, header="x-timing"):
                self.app = app

            async def __call__(self, scope, receive, send):
                await self.app(scope, receive, send)


        async def log_request(request):
            return None


        gzip = Middleware(GZipMiddleware, minimum_size=10)


        def warm_up(app):
            pass


        async def lifespan(app):
            yield


        def shutdown():
            pass


        class Warm:
            def startup(self):
                pass


        warm = Warm()


        async def home(request):
            return PlainTextResponse("home")


        routes = [Route("/", home), Route("/about", home)]
        """
    )
    project.toml(
        f"""
        [spoc]
        mode = "staging"

        [spoc.plugins]
        middleware = [
            "{module}.Timing",
            "{module}.log_request",
        ]
        hooks = ["{module}.warm_up", "{module}.lifespan"]

        [spoc.config.middleware.Timing]
        header = "x-took"
        """
    )
    project.settings(
        f"""
        PLUGINS = {{
            "middleware": ["{module}.gzip"],
            "hooks": ["{module}.shutdown", "{module}.warm", "{module}"],
            "routes": ["{module}.routes"],
        }}
        """
    )
    return project, module


def test_plugins_lists_groups_entries_kinds_and_sources(
    listed: tuple[Project, str], capsys: pytest.CaptureFixture[str]
) -> None:
    project, module = listed

    code, out, _ = run_main(["plugins", "--base-dir", str(project.base_dir)], capsys)

    assert code == 0
    assert "mode:           staging (debug off)" in out
    assert "spoc.toml:      config/spoc.toml" in out
    assert "settings:       config/settings.py" in out
    groups = [out.index(f"\n[{group}]") for group in ("middleware", "hooks", "routes")]
    assert groups == sorted(groups)
    middleware = out[groups[0] : groups[1]]
    assert "outermost first" in middleware
    lines = [line.strip() for line in middleware.splitlines()]
    assert lines[lines.index(f"1. {module}.Timing  (outermost)") + 1 :][:3] == [
        f"resolved:   ASGI middleware class {module}.Timing",
        "configured: config/spoc.toml:6",
        'options:    {"header": "x-took"}',
    ]
    assert lines[lines.index(f"2. {module}.log_request") + 1 :][:2] == [
        f"resolved:   async function {module}.log_request",
        "configured: config/spoc.toml:7",
    ]
    assert lines[lines.index(f"3. {module}.gzip  (innermost)") + 1 :][:2] == [
        "resolved:   Middleware instance starlette.middleware.gzip.GZipMiddleware",
        "configured: config/settings.py:2",
    ]
    assert (
        f"onion: ServerErrorMiddleware > {module}.Timing > "
        f"{module}.log_request (as RequestFunctionMiddleware) > "
        f"{module}.gzip > ExceptionMiddleware > router"
    ) in middleware
    hooks = out[groups[1] : groups[2]]
    assert f"resolved:   function {module}.warm_up" in hooks
    assert f"resolved:   async generator function {module}.lifespan" in hooks
    assert f"resolved:   function (at shutdown) {module}.shutdown" in hooks
    assert f"resolved:   instance of {module}.Warm" in hooks
    assert f"resolved:   module {module}\n" in hooks
    assert "resolved:   list of routes Route /, Route /about" in out[groups[2] :]


def test_plugins_json_has_the_documented_shape(
    listed: tuple[Project, str], capsys: pytest.CaptureFixture[str]
) -> None:
    project, module = listed

    code, out, _ = run_main(["plugins", "--base-dir", str(project.base_dir), "--json"], capsys)

    assert code == 0
    data = json.loads(out)
    assert list(data) == [
        "base_dir",
        "mode",
        "debug",
        "hook_timeout",
        "entry_points",
        "config_files",
        "installed_apps",
        "groups",
        "errors",
        "warnings",
        "problems",
    ]
    assert data["base_dir"] == str(project.base_dir.resolve())
    assert (data["mode"], data["debug"], data["entry_points"]) == ("staging", False, False)
    assert data["config_files"] == {
        "spoc_toml": str(project.base_dir.resolve() / "config" / "spoc.toml"),
        "settings": str(project.base_dir.resolve() / "config" / "settings.py"),
    }
    assert [group["group"] for group in data["groups"]] == ["middleware", "hooks", "routes"]
    timing = data["groups"][0]["plugins"][0]
    assert timing == {
        "uri": f"{module}.Timing",
        "name": "Timing",
        "loaded": True,
        "kind": "ASGI middleware class",
        "object": f"{module}.Timing",
        "source": {
            "file": data["config_files"]["spoc_toml"],
            "line": 6,
            "distribution": None,
            "entry_point": None,
        },
        "options": {"header": "x-took"},
        "problems": [],
    }
    assert data["groups"][0]["onion"] == [
        {"uri": f"{module}.Timing", "asgi": f"{module}.Timing"},
        {
            "uri": f"{module}.log_request",
            "asgi": "spoc_asgi.request_functions.RequestFunctionMiddleware",
        },
        {"uri": f"{module}.gzip", "asgi": "starlette.middleware.gzip.GZipMiddleware"},
    ]
    assert "onion" not in data["groups"][1]
    assert (data["errors"], data["warnings"], data["problems"]) == (0, 0, [])


def test_plugins_of_an_empty_base_dir(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(["plugins", "--base-dir", str(project.base_dir)], capsys)

    assert code == 0
    assert "spoc.toml:      (none)" in out
    assert "no plugin groups configured" in out


def test_plugins_marks_what_did_not_load_and_exits_1(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.toml('[spoc.plugins]\nhooks = ["no_such_module_anywhere.hook"]\n')

    code, out, _ = run_main(["plugins", "--base-dir", str(project.base_dir)], capsys)

    assert code == 1
    assert "resolved:   not loaded  [spoc.E013]" in out
    assert "config/spoc.toml:2 [hooks]: ERROR spoc.E013" in out


# -- secrets ----------------------------------------------------------------------------------


@pytest.fixture
def secretive(project: Project) -> Project:
    """Secrets in TOML options, settings options, and in a plugin's error message."""
    module = project.module(
        """
        class SQL:
            name = "sql"

            def __init__(self, url, password):
                self.url, self.password = url, password

            async def connect(self):
                pass

            async def disconnect(self):
                pass


        class Flaky(SQL):
            name = "flaky"

            def __init__(self, url):
                raise ValueError(f"cannot reach {url}")


        def guard(request):
            return None
        """
    )
    project.toml(
        f"""
        [spoc.plugins]
        middleware = ["{module}.guard"]

        [spoc.config.middleware.guard]
        token = "{SECRET}"
        api_secret = "{SECRET}"
        """
    )
    project.settings(
        f"""
        PLUGINS = {{"database": ["{module}.SQL"], "cache": ["{module}.Flaky"]}}
        DATABASE_CONFIG = {{
            "sql": {{"url": "postgresql+asyncpg://user:{SECRET}@db/x", "password": "{SECRET}"}},
        }}
        CACHE_CONFIG = {{"flaky": {{"url": "redis://:{SECRET}@cache:6379/0"}}}}
        """
    )
    return project


@pytest.mark.parametrize(
    "argv",
    [["plugins"], ["plugins", "--json"], ["check"], ["check", "--json"], ["run"]],
    ids=" ".join,
)
def test_secrets_are_never_printed(
    secretive: Project, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main([*argv, "--base-dir", str(secretive.base_dir)], capsys)

    assert code == 1  # the flaky cache is an error: its message carries a URL
    assert out + err
    assert SECRET not in out + err
    assert "***" in out + err


def test_redacted_options_keep_what_is_not_secret(
    secretive: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run_main(["plugins", "--json", "--base-dir", str(secretive.base_dir)], capsys)

    options = {
        plugin["name"]: plugin["options"]
        for group in json.loads(out)["groups"]
        for plugin in group["plugins"]
    }
    assert options["guard"] == {"token": "***", "api_secret": "***"}
    assert options["sql"] == {"url": "postgresql+asyncpg://user:***@db/x", "password": "***"}
    assert options["flaky"] == {"url": "redis://:***@cache:6379/0"}


# -- check ------------------------------------------------------------------------------------


@pytest.fixture
def broken(project: Project) -> tuple[Project, str]:
    module = project.module(
        """
        NUMBER = 42
        NOT_A_ROUTE = "/"


        class Strict:
            def __init__(self, app):
                self.app = app

            async def __call__(self, scope, receive, send):
                await self.app(scope, receive, send)
        """
    )
    project.toml(
        f"""
        [spoc]
        mode = "testing"

        [spoc.plugins]
        middleware = ["{module}.Strict", "missing_module_for_check.mw"]
        hooks = ["{module}.NUMBER", "{module}.NUMBER"]

        [spoc.config.middleware.Strict]
        colour = "red"
        """
    )
    project.settings(f'PLUGINS = {{"routes": ["{module}.NOT_A_ROUTE"]}}\n')
    return project, module


def test_check_lists_every_problem_with_ids_locations_and_hints(
    broken: tuple[Project, str], capsys: pytest.CaptureFixture[str]
) -> None:
    project, _ = broken

    code, out, _ = run_main(["check", "--base-dir", str(project.base_dir)], capsys)

    assert code == 1
    assert "config/spoc.toml [spoc.mode]: ERROR spoc.E006" in out
    assert "config/spoc.toml:5 [middleware]: ERROR spoc.E013" in out
    assert "config/spoc.toml:5 [middleware]: ERROR spoc.E021" in out  # colour="red"
    assert "config/spoc.toml:6 [spoc.plugins.hooks]: WARNING spoc.W002" in out
    assert "config/spoc.toml:6 [hooks]: ERROR spoc.E017" in out
    assert "config/settings.py:1 [routes]: ERROR spoc.E019" in out
    assert "'missing_module_for_check'" in out
    assert "HINT: Use a starlette BaseRoute, a list of them, or a Router." in out
    assert out.count("HINT: ") == 6
    assert out.rstrip().endswith("5 errors, 1 warning")
    assert "Traceback" not in out


def test_check_json(broken: tuple[Project, str], capsys: pytest.CaptureFixture[str]) -> None:
    project, module = broken

    code, out, _ = run_main(["check", "--json", "--base-dir", str(project.base_dir)], capsys)

    assert code == 1
    data = json.loads(out)
    assert (data["errors"], data["warnings"]) == (5, 1)
    routes = next(p for p in data["problems"] if p["id"] == "spoc.E019")
    assert routes == {
        "id": "spoc.E019",
        "level": "error",
        "message": routes["message"],
        "hint": "Use a starlette BaseRoute, a list of them, or a Router.",
        "location": "config/settings.py:1 [routes]",
        "file": str(project.base_dir.resolve() / "config" / "settings.py"),
        "line": 1,
        "key": "routes",
        "uri": f"{module}.NOT_A_ROUTE",
    }
    assert f"{module}.NOT_A_ROUTE" in routes["message"]


def test_clean_check_exits_0(
    listed: tuple[Project, str], capsys: pytest.CaptureFixture[str]
) -> None:
    project, _ = listed

    code, out, _ = run_main(["check", "--base-dir", str(project.base_dir)], capsys)

    assert (code, out) == (0, "no problems found\n")


def test_warnings_alone_exit_0(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.toml('[spoc]\nmode = "production"\ndebug = true\n')

    code, out, _ = run_main(["check", "--base-dir", str(project.base_dir)], capsys)

    assert code == 0
    assert "WARNING spoc.W003" in out
    assert out.rstrip().endswith("0 errors, 1 warning")


def test_settings_that_raise_are_a_problem_not_a_traceback(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.settings('import os\nDEBUG = os.environ["SPOC_TEST_SURELY_UNSET_VARIABLE"]\n')

    code, out, err = run_main(["check", "--base-dir", str(project.base_dir)], capsys)

    assert code == 1
    assert "config/settings.py:2: ERROR spoc.E008" in out
    assert "KeyError" in out
    assert "Traceback" not in out + err


def test_a_plugin_constructor_that_raises_is_reported(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    module = project.module(
        """
        class Picky:
            def __init__(self, app, size=1):
                if size < 1:
                    raise ValueError("size must be positive")
                self.app = app

            async def __call__(self, scope, receive, send):
                await self.app(scope, receive, send)
        """
    )
    project.toml(
        f"""
        [spoc.plugins]
        middleware = ["{module}.Picky"]

        [spoc.config.middleware.Picky]
        size = 0
        """
    )

    code, out, _ = run_main(["check", "--base-dir", str(project.base_dir)], capsys)

    assert code == 1
    assert "ERROR spoc.E021" in out
    assert "ValueError: size must be positive" in out


def test_options_after_double_dash_are_only_for_run(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(["check", "--base-dir", str(project.base_dir), "--", "-x"], capsys)

    assert code == 2
    assert "only for `run`" in err


def test_the_command_line_leaves_sys_path_as_it_was(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    before = list(sys.path)

    run_main(["check", "--base-dir", str(project.base_dir / "config")], capsys)

    assert sys.path == before


# -- run --------------------------------------------------------------------------------------


def test_run_refuses_a_broken_configuration(
    broken: tuple[Project, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(BASE_DIR_ENV, raising=False)

    code, out, err = run_main(["run", "--base-dir", str(broken[0].base_dir)], capsys)

    assert code == 1
    assert out == ""
    assert "ERROR spoc.E019" in err
    assert "not starting" in err
    assert BASE_DIR_ENV not in os.environ  # it never got as far as uvicorn


def uvicorn_arguments(argv: list[str], base_dir: Path) -> list[str]:
    args = build_parser().parse_args(argv)
    args.uvicorn_args = []
    return uvicorn_arguments_of(args, base_dir)


def test_run_serves_the_configured_app_through_a_factory(tmp_path: Path) -> None:
    assert uvicorn_arguments(["run"], tmp_path) == [
        DEFAULT_APP,
        "--host",
        "127.0.0.1",
        "--port",
        "8000",
        "--factory",
    ]


def test_run_options_become_uvicorn_options(tmp_path: Path) -> None:
    argv = ["run", "--app", "mine:app", "--port", "9000", "--workers", "3", "--log-level", "debug"]

    assert uvicorn_arguments(argv, tmp_path) == [
        "mine:app",
        "--host",
        "127.0.0.1",
        "--port",
        "9000",
        "--log-level",
        "debug",
        "--workers",
        "3",
    ]


def test_reload_watches_the_project_too(tmp_path: Path) -> None:
    arguments = uvicorn_arguments(["run", "--reload"], tmp_path)

    assert arguments[arguments.index("--reload") :] == [
        "--reload",
        "--reload-dir",
        os.getcwd(),
        "--reload-dir",
        str(tmp_path),
        "--reload-include",
        "spoc.toml",
    ]


def test_app_from_env_builds_the_base_dir_in_the_environment(
    listed: tuple[Project, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project, module = listed
    monkeypatch.setenv(BASE_DIR_ENV, str(project.base_dir))

    app = app_from_env()

    assert app.state.framework.base_dir == project.base_dir.resolve()
    assert list(app.state.framework.plugins["routes"]) == [f"{module}.routes"]


# -- as a program -----------------------------------------------------------------------------


def program_env(project: Project) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOC_")}
    return {**env, "PYTHONUNBUFFERED": "1"}


def test_python_m_spoc_asgi(listed: tuple[Project, str]) -> None:
    project, module = listed

    done = subprocess.run(
        [sys.executable, "-m", "spoc_asgi", "plugins", "--base-dir", str(project.base_dir)],
        capture_output=True,
        text=True,
        env=program_env(project),
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert f"1. {module}.Timing  (outermost)" in done.stdout


def test_the_spoc_asgi_script(broken: tuple[Project, str]) -> None:
    script = Path(sys.executable).with_name("spoc-asgi")
    if not script.exists():
        pytest.skip(f"{script} is not installed (pip install -e .)")

    done = subprocess.run(
        [str(script), "check", "--base-dir", str(broken[0].base_dir)],
        capture_output=True,
        text=True,
        env=program_env(broken[0]),
        timeout=60,
    )

    assert done.returncode == 1
    assert "ERROR spoc.E019" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_run_serves_until_interrupted(listed: tuple[Project, str], signum: int) -> None:
    # Bare uvicorn re-raises SIGTERM after its graceful shutdown (exit -15);
    # `spoc-asgi run` turns that into a clean exit 0, as process managers expect.
    project, _ = listed
    port = free_port()
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "spoc_asgi", "run", "--base-dir", str(project.base_dir)),
            *("--port", str(port), "--log-level", "warning"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=program_env(project),
    )
    try:
        response = wait_for(f"http://127.0.0.1:{port}/about", server)
        assert (response.status_code, response.text) == (200, "home")
        server.send_signal(signum)
        output, _ = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 0, output


def wait_for(url: str, server: subprocess.Popen[str]) -> httpx.Response:
    """GET ``url`` once the server is up (it takes a moment to start)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(url)
        except httpx.TransportError:
            if server.poll() is not None or time.monotonic() > deadline:
                output = server.communicate()[0] if server.poll() is not None else ""
                pytest.fail(f"the server did not come up: {output}")
            time.sleep(0.1)


def test_a_reader_closing_the_pipe_early_gets_no_traceback(project: Project) -> None:
    # `spoc-asgi plugins --json | head`: more output than a pipe buffer holds.
    names = [f"value_{number}" for number in range(3000)]
    module = project.module("".join(f"{name} = {number}\n" for number, name in enumerate(names)))
    uris = [f"{module}.{name}" for name in names]
    project.settings(f"PLUGINS = {{'constants': {uris!r}}}\n")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "spoc_asgi",
            "plugins",
            "--json",
            "--base-dir",
            str(project.base_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=program_env(project),
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(10)
    process.stdout.close()
    errors = process.stderr.read().decode()
    process.wait(timeout=30)
    assert "Traceback" not in errors
    assert "BrokenPipeError" not in errors
