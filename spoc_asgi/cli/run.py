"""``spoc-asgi run``: check the configuration, then hand over to uvicorn (docs/cli.md)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from starlette.applications import Starlette

from spoc_asgi.app import create_app
from spoc_asgi.cli.inspection import inspect_project
from spoc_asgi.cli.render import check_data, write_problems

BASE_DIR_ENV = "SPOC_BASE_DIR"
DEFAULT_APP = "spoc_asgi.cli:app_from_env"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def app_from_env() -> Starlette:
    """The app ``spoc-asgi run`` serves: ``create_app($SPOC_BASE_DIR)`` (default ``.``)."""
    return create_app(os.environ.get(BASE_DIR_ENV, "."))


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


def command_run(args: argparse.Namespace) -> int:
    base_dir = Path(args.base_dir).resolve()
    with importable(base_dir):
        inspection = inspect_project(base_dir)
        if inspection.problems:
            write_problems(check_data(inspection), sys.stderr)
        if inspection.fails(args.fail_level):
            what = "errors" if args.fail_level == "error" else "problems"
            print(f"spoc-asgi: not starting: fix the {what} above first", file=sys.stderr)
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
