"""What ``spoc-asgi plugins`` and ``check`` print: an inspection as data, and as text.

The JSON keys are stable; docs/cli.md lists them.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Router

from spoc_asgi import middleware, registry
from spoc_asgi.checks import CheckMessage
from spoc_asgi.cli.inspection import Inspection
from spoc_asgi.framework import Framework
from spoc_asgi.markers import is_shutdown_hook
from spoc_asgi.redaction import redact, redact_text

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
    try:
        return _describe(group, obj)
    except Exception:  # the plugin's own attribute hooks raised: say what it is, no more
        return "instance", f"{type(obj).__module__}.{type(obj).__qualname__}"


def _describe(group: str, obj: Any) -> tuple[str, str]:
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
        "location": check.where(inspection.base_dir),
        "file": str(check.file) if check.file else None,
        "line": check.line,
        "key": check.key,
        "uri": check.uri,
    }


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
    problems: dict[str, list[str]] = {}  # by URI, built once: a scan per entry is quadratic
    for problem in inspection.problems:
        if problem.key == group and problem.uri is not None:
            problems.setdefault(problem.uri, []).append(problem.id)
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
                "problems": problems.get(entry.uri, []),
            }
        )
    data: dict[str, Any] = {
        "group": group,
        "role": registry.role_of(group).value,
        "description": registry.describe_group(group),
        "plugins": entries,
    }
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
    print(f"\n[{group['group']}] {group['description']}", file=out)
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
            options = json.dumps(plugin["options"], default=json_default)
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


def json_default(value: object) -> str:
    # Options may hold any object (a Path, a class): show it, never its secrets.
    return redact_text(str(value))


def dump_json(data: dict[str, Any], out: TextIO) -> None:
    json.dump(data, out, indent=2, default=json_default)
    out.write("\n")
