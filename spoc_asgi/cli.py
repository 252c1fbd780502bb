"""The ``spoc-asgi`` command line (SPEC section 6); ``python -m spoc_asgi`` is the same.

Commands:

``spoc-asgi plugins [--base-dir D] [--json]``
    Every plugin group in order and, per URI, what it resolved to, where it was
    configured (file and line, or the distribution of a discovered plugin) and its
    options. The ``middleware`` group is shown as the onion it becomes, outermost
    first. Exits 1 when the configuration has errors (they are listed at the end).

``spoc-asgi check [--base-dir D] [--json]``
    Loads the configuration with a collecting reporter, then adapts every entry of
    the ``middleware``, ``hooks``, ``routes``, ``database`` and ``cache`` groups as
    ``create_app`` would, and lists every problem at once. Exits 1 if any is an
    error; warnings alone exit 0.

``spoc-asgi run [--base-dir D] [--app MODULE:ATTR] [--host H] [--port P] [--reload]
[--workers N] [--log-level L] [-- UVICORN OPTIONS...]``
    Runs ``check`` and refuses to start (exit 1) on errors; then starts uvicorn.
    The default app is the factory :func:`app_from_env`, which reads the base dir
    from the ``SPOC_BASE_DIR`` environment variable: an import string, so
    ``--reload`` and ``--workers`` work. ``--app`` serves a module's own app
    instead (``SPOC_BASE_DIR`` is still set for it). Options after ``--`` go to
    uvicorn unchanged.

The current directory and the base dir are put on ``sys.path`` (as ``uvicorn`` and
``python -m`` do for the current directory), so a project's plugin modules import.
Nothing secret is printed: options and messages go through
:mod:`spoc_asgi.redaction`.

JSON output (``--json``) has stable keys. ``check``::

    {"base_dir": str, "errors": int, "warnings": int, "problems": [PROBLEM, ...]}

``plugins``::

    {"base_dir": str, "mode": str, "debug": bool, "hook_timeout": float,
     "entry_points": bool,
     "config_files": {"spoc_toml": str | null, "settings": str | null},
     "installed_apps": [str, ...],
     "groups": [
        {"group": str,
         "plugins": [
            {"uri": str, "name": str, "loaded": bool,
             "kind": str,            # "function", "async function", "class",
                                     # "ASGI middleware class", "Middleware instance",
                                     # "instance", "module", "route", "list", ...
             "object": str,          # dotted name of the function/class/module
             "source": {"file": str | null, "line": int | null,
                        "distribution": str | null, "entry_point": str | null},
             "options": {...},       # redacted
             "problems": [str, ...]} # check ids about this entry
         ],
         # "middleware" only, outermost first (index 0 sees the request first):
         "onion": [{"uri": str, "asgi": str | null}, ...]}
     ],
     "errors": int, "warnings": int, "problems": [PROBLEM, ...]}

When the configuration cannot be read at all, ``plugins`` gives only ``base_dir`` and
the ``check`` keys. ``PROBLEM`` is ``{"id", "level", "message", "hint", "location", "file", "line",
"key", "uri"}`` (``level`` is ``"error"`` or ``"warning"``; absent values are null).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any, TextIO

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Router

from spoc_asgi import backends, hooks, middleware, routes
from spoc_asgi.app import create_app
from spoc_asgi.checks import CheckMessage, Level, Reporter
from spoc_asgi.errors import ConfigurationError
from spoc_asgi.framework import Framework
from spoc_asgi.importer import PluginSource
from spoc_asgi.markers import is_shutdown_hook
from spoc_asgi.redaction import redact, redact_text
from spoc_asgi.shapes import options_error

BASE_DIR_ENV = "SPOC_BASE_DIR"
DEFAULT_APP = "spoc_asgi.cli:app_from_env"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")

Adapter = Callable[[Framework, str, Any], Any]


def app_from_env() -> Starlette:
    """The app ``spoc-asgi run`` serves: ``create_app($SPOC_BASE_DIR)`` (default ``.``)."""
    return create_app(os.environ.get(BASE_DIR_ENV, "."))


# -- inspecting a project -----------------------------------------------------------------


@dataclass
class Inspection:
    """A project's framework, every problem found, and the middleware onion."""

    base_dir: Path
    framework: Framework | None
    problems: list[CheckMessage] = field(default_factory=list)
    onion: list[tuple[str, Middleware | None]] = field(default_factory=list)

    @property
    def errors(self) -> list[CheckMessage]:
        return [p for p in self.problems if p.level is Level.ERROR]

    @property
    def warnings(self) -> list[CheckMessage]:
        return [p for p in self.problems if p.level is Level.WARNING]


def _build_backend(group: str) -> Adapter:
    def build(framework: Framework, uri: str, obj: Any) -> Any:
        return backends.build_backend(framework, group, uri, obj)

    return build


# The app-layer groups and what create_app does with each entry.
ADAPTERS: dict[str, Adapter] = {
    "middleware": middleware.adapt,
    "hooks": hooks.adapt,
    "routes": routes.adapt,
    "database": _build_backend("database"),
    "cache": _build_backend("cache"),
}


def inspect_project(base_dir: Path) -> Inspection:
    """Load ``base_dir`` collecting every problem, and adapt each app-layer entry."""
    reporter = Reporter(strict=False)
    try:
        framework = Framework(base_dir, reporter=reporter)
    except ConfigurationError as exc:  # raised outside the reporter: still one problem
        return Inspection(base_dir, None, [*reporter.messages, exc.check])
    inspection = Inspection(framework.base_dir, framework, reporter.messages)
    for group, adapter in ADAPTERS.items():
        for uri, obj in framework.plugins.get(group, {}).items():
            adapted = _adapt(inspection, framework, adapter, (group, uri, obj))
            if group == "middleware":
                inspection.onion.append((uri, adapted if isinstance(adapted, Middleware) else None))
    return inspection


def _adapt(
    inspection: Inspection, framework: Framework, adapter: Adapter, entry: tuple[str, str, Any]
) -> Any:
    group, uri, obj = entry
    try:
        return adapter(framework, uri, obj)
    except ConfigurationError as exc:
        inspection.problems.append(exc.check)
    except Exception as exc:  # a plugin's own constructor or configure() raised
        inspection.problems.append(_rejected(inspection, group, uri, exc))
    return None


def _rejected(inspection: Inspection, group: str, uri: str, exc: Exception) -> CheckMessage:
    source = _source_of(inspection, group, uri)
    options = inspection.framework.options_for(group, uri) if inspection.framework else {}
    reason = f"{type(exc).__name__}: {exc}"
    return options_error(group, uri, "failed with", options, source, reason).check


def _source_of(inspection: Inspection, group: str, uri: str) -> PluginSource | None:
    if inspection.framework is None or group not in inspection.framework.sources:
        return None
    return inspection.framework.sources[group].get(uri)


# -- describing objects ---------------------------------------------------------------------


def dotted_name(obj: Any) -> str:
    if isinstance(obj, ModuleType):
        return obj.__name__
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if isinstance(qualname, str):
        return f"{module}.{qualname}" if isinstance(module, str) else qualname
    return dotted_name(type(obj))


def describe(group: str, obj: Any) -> tuple[str, str]:
    """(kind, object) for what a URI resolved to, e.g. ("async function", "app.mw.auth")."""
    if isinstance(obj, Middleware):
        return "Middleware instance", dotted_name(obj.cls)
    if isinstance(obj, ModuleType):
        return "module", obj.__name__
    if inspect.isclass(obj):
        if group == "middleware" and middleware.is_asgi_middleware_class(obj):
            return "ASGI middleware class", dotted_name(obj)
        if group == "middleware" and middleware.has_request_method(obj):
            return "class of request functions", dotted_name(obj)
        return "class", dotted_name(obj)
    if isinstance(obj, BaseRoute):
        return "route", _route_label(obj)
    if isinstance(obj, Router):
        return "Router", ", ".join(_route_label(route) for route in obj.routes)
    if isinstance(obj, (list, tuple)):
        if obj and all(isinstance(item, BaseRoute) for item in obj):
            return "list of routes", ", ".join(_route_label(route) for route in obj)
        return "list", f"{len(obj)} items"
    if inspect.isasyncgenfunction(obj):
        return "async generator function", dotted_name(obj)
    if inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isbuiltin(obj):
        kind = "async function" if inspect.iscoroutinefunction(obj) else "function"
        if group == "hooks" and is_shutdown_hook(obj):
            kind += " (at shutdown)"
        return kind, dotted_name(obj)
    return "instance", dotted_name(type(obj))


def _route_label(route: BaseRoute) -> str:
    return f"{type(route).__name__} {getattr(route, 'path', '')}".strip()


# -- reports as data ----------------------------------------------------------------------


def problem_data(check: CheckMessage, inspection: Inspection) -> dict[str, Any]:
    return {
        "id": check.id,
        "level": check.level.value,
        "message": redact_text(check.msg),
        "hint": check.hint,
        "location": location(check, inspection),
        "file": str(check.file) if check.file else None,
        "line": check.line,
        "key": check.key,
        "uri": check.uri,
    }


def location(check: CheckMessage, inspection: Inspection) -> str:
    """``file:line [key]``, the file relative to the base dir; for a plugin of an
    installed distribution, its entry point."""
    source = _entry_source(inspection, check)
    if check.file:
        where = display_path(check.file, inspection.base_dir)
    elif source is not None and source.distribution is not None:
        where = str(source)
    else:
        where = "<no file>"
    if check.line is not None:
        where += f":{check.line}"
    if check.key:
        where += f" [{check.key}]"
    return redact_text(where)


def _entry_source(inspection: Inspection, check: CheckMessage) -> PluginSource | None:
    if inspection.framework is None or check.key is None:
        return None
    for entry in inspection.framework.config.plugins.get(check.key, []):
        if entry.uri == check.uri:
            return entry.source
    return None


def display_path(path: Path, base_dir: Path) -> str:
    try:
        return str(path.relative_to(base_dir))
    except ValueError:
        return str(path)


def check_data(inspection: Inspection) -> dict[str, Any]:
    return {
        "base_dir": str(inspection.base_dir),
        "errors": len(inspection.errors),
        "warnings": len(inspection.warnings),
        "problems": [problem_data(p, inspection) for p in inspection.problems],
    }


def plugins_data(inspection: Inspection) -> dict[str, Any]:
    framework = inspection.framework
    data: dict[str, Any] = {"base_dir": str(inspection.base_dir)}
    if framework is not None:
        config = framework.config
        data.update(
            mode=config.mode,
            debug=config.debug,
            hook_timeout=config.hook_timeout,
            entry_points=config.project.get("entry_points") is True,
            config_files={
                "spoc_toml": str(config.toml_path) if config.toml_path else None,
                "settings": str(config.settings_path) if config.settings_path else None,
            },
            installed_apps=list(config.installed_apps),
            groups=[_group_data(inspection, framework, group) for group in config.plugins],
        )
    return {**data, **check_data(inspection)}


def _group_data(inspection: Inspection, framework: Framework, group: str) -> dict[str, Any]:
    loaded: dict[str, Any] = framework.plugins.get(group, {})
    entries = []
    for entry in framework.config.plugins[group]:
        obj = loaded.get(entry.uri)
        kind, target = describe(group, obj) if entry.uri in loaded else ("not loaded", "")
        entries.append(
            {
                "uri": entry.uri,
                "name": framework.short_name(entry.uri, obj),
                "loaded": entry.uri in loaded,
                "kind": kind,
                "object": target,
                "source": {
                    "file": str(entry.source.file) if entry.source.file else None,
                    "line": entry.source.line,
                    "distribution": entry.source.distribution,
                    "entry_point": entry.source.entry_point,
                },
                "options": redact(framework.options_for(group, entry.uri)),
                "problems": [
                    p.id for p in inspection.problems if p.uri == entry.uri and p.key == group
                ],
            }
        )
    data: dict[str, Any] = {"group": group, "plugins": entries}
    if group == "middleware":
        data["onion"] = [
            {"uri": uri, "asgi": dotted_name(built.cls) if built else None}
            for uri, built in inspection.onion
        ]
    return data


# -- reports as text ------------------------------------------------------------------------


def write_problems(data: dict[str, Any], out: TextIO) -> None:
    for problem in data["problems"]:
        print(f"{problem['location']}: {problem['level'].upper()} {problem['id']}", file=out)
        print(f"    {problem['message']}", file=out)
        print(f"    HINT: {problem['hint']}", file=out)
    if not data["problems"]:
        print("no problems found", file=out)
        return
    errors, warnings = data["errors"], data["warnings"]
    print(f"{_count(errors, 'error')}, {_count(warnings, 'warning')}", file=out)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def write_plugins(data: dict[str, Any], out: TextIO) -> None:
    base_dir = Path(data["base_dir"])
    print(f"base dir:       {base_dir}", file=out)
    if "groups" not in data:
        print("", file=out)
        write_problems(data, out)
        return
    files = data["config_files"]
    print(f"mode:           {data['mode']} (debug {'on' if data['debug'] else 'off'})", file=out)
    print(f"spoc.toml:      {_shown(files['spoc_toml'], base_dir)}", file=out)
    print(f"settings:       {_shown(files['settings'], base_dir)}", file=out)
    print(f"entry points:   {'on' if data['entry_points'] else 'off'}", file=out)
    print(f"installed apps: {', '.join(data['installed_apps']) or '(none)'}", file=out)
    if not data["groups"]:
        print("\nno plugin groups configured", file=out)
    for group in data["groups"]:
        _write_group(group, base_dir, out)
    if data["problems"]:
        print("\nproblems (see `spoc-asgi check`):", file=out)
        write_problems(data, out)


def _write_group(group: dict[str, Any], base_dir: Path, out: TextIO) -> None:
    heading = f"\n[{group['group']}]"
    if group["group"] == "middleware":
        heading += " outermost first: the first sees the request first and the response last"
    print(heading, file=out)
    if not group["plugins"]:
        print("  (empty)", file=out)
    last = len(group["plugins"])
    for number, plugin in enumerate(group["plugins"], start=1):
        mark = ""
        if group["group"] == "middleware" and last > 1:
            mark = "  (outermost)" if number == 1 else "  (innermost)" if number == last else ""
        print(f"  {number}. {plugin['uri']}{mark}", file=out)
        resolved = _resolved_text(plugin["kind"], plugin["object"])
        if plugin["problems"]:
            resolved += f"  [{', '.join(plugin['problems'])}]"
        print(f"       resolved:   {resolved}", file=out)
        print(f"       configured: {_source_text(plugin['source'], base_dir)}", file=out)
        if plugin["options"]:
            options = json.dumps(plugin["options"], default=_json_default)
            print(f"       options:    {options}", file=out)
    if group.get("onion"):
        objects = {plugin["uri"]: plugin["object"] for plugin in group["plugins"]}
        layers = [_layer(item, objects[item["uri"]]) for item in group["onion"]]
        chain = " > ".join(["ServerErrorMiddleware", *layers, "ExceptionMiddleware", "router"])
        print(f"  onion: {chain}", file=out)


def _resolved_text(kind: str, target: str) -> str:
    joined = f"{kind} of {target}" if kind in ("instance", "list") else f"{kind} {target}"
    return joined.strip()


def _layer(item: dict[str, Any], resolved: str) -> str:
    if item["asgi"] is None:
        return f"{item['uri']} (not built)"
    if item["asgi"] == resolved:
        return str(item["uri"])
    return f"{item['uri']} (as {item['asgi'].rsplit('.', 1)[-1]})"


def _source_text(source: dict[str, Any], base_dir: Path) -> str:
    if source["distribution"] is not None:
        return f"entry point {source['entry_point']!r} of distribution {source['distribution']!r}"
    if source["file"] is None:
        return "<unknown>"
    path = display_path(Path(source["file"]), base_dir)
    return f"{path}:{source['line']}" if source["line"] else path


def _shown(path: str | None, base_dir: Path) -> str:
    return display_path(Path(path), base_dir) if path else "(none)"


def _json_default(value: object) -> str:
    # Options may hold any object (a Path, a class): show it, never its secrets.
    return redact_text(str(value))


def _dump_json(data: dict[str, Any], out: TextIO) -> None:
    json.dump(data, out, indent=2, default=_json_default)
    out.write("\n")


# -- commands -------------------------------------------------------------------------------


@contextmanager
def importable(base_dir: Path) -> Iterator[None]:
    """Put the current directory and the base dir on ``sys.path`` for a while."""
    added = [p for p in dict.fromkeys([os.getcwd(), str(base_dir)]) if p not in sys.path]
    sys.path[0:0] = added
    try:
        yield
    finally:
        for path in added:
            if path in sys.path:
                sys.path.remove(path)


def _report(
    args: argparse.Namespace,
    to_data: Callable[[Inspection], dict[str, Any]],
    write: Callable[[dict[str, Any], TextIO], None],
) -> int:
    """Inspect the project, print ``to_data`` of it (as JSON or text), exit 1 on errors."""
    base_dir = Path(args.base_dir).resolve()
    with importable(base_dir):
        inspection = inspect_project(base_dir)
    data = to_data(inspection)
    (_dump_json if args.json else write)(data, sys.stdout)
    return 1 if inspection.errors else 0


def command_plugins(args: argparse.Namespace) -> int:
    return _report(args, plugins_data, write_plugins)


def command_check(args: argparse.Namespace) -> int:
    return _report(args, check_data, write_problems)


def command_run(args: argparse.Namespace) -> int:
    base_dir = Path(args.base_dir).resolve()
    with importable(base_dir):
        inspection = inspect_project(base_dir)
        if inspection.problems:
            write_problems(check_data(inspection), sys.stderr)
        if inspection.errors:
            print("spoc-asgi: not starting: fix the errors above first", file=sys.stderr)
            return 1
        try:
            from uvicorn.main import main as uvicorn_main
        except ImportError:
            print(
                "spoc-asgi: uvicorn is not installed: pip install 'spoc_asgi[server]'",
                file=sys.stderr,
            )
            return 1
        # Inherited by reload and worker processes, which import the app afresh.
        os.environ[BASE_DIR_ENV] = str(base_dir)
        # uvicorn shuts down gracefully on SIGTERM, then re-raises it to the handler
        # that was there before it: make that handler a clean exit, not a kill.
        signal.signal(signal.SIGTERM, _exit_cleanly)
        try:
            uvicorn_main.main(
                args=uvicorn_arguments(args, base_dir),
                prog_name="spoc-asgi run",
                standalone_mode=True,
            )
        except SystemExit as exit_:
            return exit_code(exit_.code)
    return 0  # pragma: no cover - click always exits in standalone mode


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def uvicorn_arguments(args: argparse.Namespace, base_dir: Path) -> list[str]:
    arguments = [args.app or DEFAULT_APP, "--host", args.host, "--port", str(args.port)]
    if args.app is None:
        arguments.append("--factory")
    if args.log_level:
        arguments += ["--log-level", args.log_level]
    if args.workers is not None:
        arguments += ["--workers", str(args.workers)]
    if args.reload:
        arguments.append("--reload")
        # Watch the project too, and its spoc.toml, not only the cwd's *.py files.
        for directory in dict.fromkeys([os.getcwd(), str(base_dir)]):
            arguments += ["--reload-dir", directory]
        arguments += ["--reload-include", "spoc.toml"]
    return arguments + list(args.uvicorn_args)


def exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def build_parser() -> argparse.ArgumentParser:
    from spoc_asgi import __version__

    parser = argparse.ArgumentParser(
        prog="spoc-asgi",
        description="Inspect, check and serve a SPOC plugin configuration as an ASGI app.",
    )
    parser.add_argument("--version", action="version", version=f"spoc-asgi {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, handler: Callable[[argparse.Namespace], int]) -> Any:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument(
            "--base-dir",
            default=".",
            help="the project directory holding config/spoc.toml and/or config/settings.py "
            "(default: the current directory)",
        )
        sub.set_defaults(handler=handler)
        return sub

    for name, help, handler in (
        ("plugins", "list plugin groups, what each URI resolved to and where", command_plugins),
        ("check", "validate the configuration and list every problem", command_check),
    ):
        command(name, help, handler).add_argument(
            "--json", action="store_true", help="print JSON (keys: see the module docs)"
        )

    run = command("run", "check the configuration, then serve the app with uvicorn", command_run)
    run.epilog = "Options after `--` are passed to uvicorn unchanged."
    run.add_argument(
        "--app",
        metavar="MODULE:ATTR",
        help=f"serve this app instead of the configured one (default: {DEFAULT_APP}, "
        f"a factory reading ${BASE_DIR_ENV})",
    )
    run.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1)")
    run.add_argument("--port", type=int, default=8000, help="bind port (default: 8000)")
    run.add_argument("--reload", action="store_true", help="restart when files change")
    run.add_argument("--workers", type=int, metavar="N", help="number of worker processes")
    run.add_argument("--log-level", choices=LOG_LEVELS, help="uvicorn's log level")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in arguments:
        split = arguments.index("--")
        arguments, passthrough = arguments[:split], arguments[split + 1 :]
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
        if passthrough and args.command != "run":
            parser.error(f"options after `--` are only for `run`: {' '.join(passthrough)}")
    except SystemExit as exit_:  # --help, --version and usage errors
        return exit_code(exit_.code)
    args.uvicorn_args = passthrough
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except BrokenPipeError:
        # `spoc-asgi plugins | head`: the reader left; say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
