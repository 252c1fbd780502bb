"""The ``spoc-asgi`` command line; ``python -m spoc_asgi`` is the same (docs/cli.md).

``plugins`` and ``check`` inspect a project (:mod:`.inspection`) and print the
result (:mod:`.render`); ``run`` checks, then starts uvicorn (:mod:`.run`). The
current directory and the base dir are put on ``sys.path`` while a project is
inspected, so its plugin modules import. Nothing secret is printed: options and
messages go through :mod:`spoc_asgi.redaction`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from spoc_asgi.cli.inspection import FAIL_LEVELS, Inspection, inspect_project
from spoc_asgi.cli.render import (
    check_data,
    dump_json,
    plugins_data,
    write_plugins,
    write_problems,
)
from spoc_asgi.cli.run import (
    BASE_DIR_ENV,
    DEFAULT_APP,
    LOG_LEVELS,
    app_from_env,
    command_run,
    exit_code,
    importable,
    uvicorn_arguments,
)

__all__ = [
    "BASE_DIR_ENV",
    "DEFAULT_APP",
    "Inspection",
    "app_from_env",
    "build_parser",
    "inspect_project",
    "main",
    "uvicorn_arguments",
]


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
    (dump_json if args.json else write)(data, sys.stdout)
    return 1 if inspection.fails(args.fail_level) else 0


def command_plugins(args: argparse.Namespace) -> int:
    return _report(args, plugins_data, write_plugins)


def command_check(args: argparse.Namespace) -> int:
    return _report(args, check_data, write_problems)


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
        sub.add_argument(
            "--fail-level",
            choices=FAIL_LEVELS,
            default="error",
            help="exit 1 on problems of this level or worse: 'warning' makes warnings fail "
            "too, as a CI step wants (default: error)",
        )
        sub.set_defaults(handler=handler)
        return sub

    for name, help, handler in (
        ("plugins", "list plugin groups, what each URI resolved to and where", command_plugins),
        ("check", "validate the configuration and list every problem", command_check),
    ):
        command(name, help, handler).add_argument(
            "--json", action="store_true", help="print JSON (keys: see docs/cli.md)"
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
