"""``python -m bench``: run the measures, print one table (see docs/performance.md).

python -m bench                  # everything (about 5 minutes on 2 cores)
python -m bench --quick          # tiny counts: checks that every measure runs
python -m bench --only asgi --only adapter
python -m bench --json results.json
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.harness import Row, Settings, format_table, write_json

Measure = Callable[[Settings], list[Row]]


def measures() -> dict[str, Measure]:
    """Name -> measure, in the order they run. Imported lazily: a missing optional
    driver only fails the measure that needs it."""
    from bench import (
        asgi,
        backends,
        coordination,
        http,
        imports,
        instructions,
        lifespan,
        peers,
        startup,
        writers,
    )
    from bench.peers import inprocess

    return {
        "asgi": asgi.measure_asgi,
        "adapter": asgi.measure_adapter,
        "functions": asgi.measure_functions,
        "instructions": instructions.measure_instructions,
        "http": http.measure_http,
        "create_app": startup.measure_create_app,
        "lifespan": lifespan.measure_lifespan,
        "cache": backends.measure_cache,
        "sql": backends.measure_sql,
        "peers": peers.measure_peers,
        "peers_asgi": inprocess.measure_peers_asgi,
        "coordination": coordination.measure_coordination,
        "sqlite_writers": writers.measure_writers,
        "import": imports.measure_imports,
    }


LIBRARIES = (
    "starlette",
    "fastapi",
    "litestar",
    "anyio",
    "uvicorn",
    "uvloop",
    "httptools",
    "sqlalchemy",
    "asyncpg",
    "aiosqlite",
    "redis",
)


def machine() -> dict[str, Any]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "wrk": wrk_version(),
        "libraries": versions,
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def wrk_version() -> str | None:
    if shutil.which("wrk") is None:
        return None
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    lines = (done.stdout or done.stderr).splitlines()
    return lines[0].strip() if lines else ""


def load_average() -> float:
    """Other work on the machine skews every number: the run reports it."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts (smoke test)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only this measure (repeatable): {', '.join(measures())}",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    available = measures()
    chosen = [name for part in args.only or list(available) for name in part.split(",")]
    unknown = [name for name in chosen if name not in available]
    if unknown:
        print(f"unknown measure(s): {', '.join(unknown)}; known: {', '.join(available)}")
        return 2
    settings = Settings(quick=args.quick)
    info = machine()
    print(
        f"spoc_asgi benchmarks: {info['cpus']} CPUs ({info['cpu_model']}), "
        f"Python {info['python']}{' [quick]' if args.quick else ''}",
        flush=True,
    )
    load_at_start = load_average()
    rows: list[Row] = []
    failed = False
    began = time.perf_counter()
    for name in chosen:
        print(f"  running {name} ...", end="", flush=True)
        started = time.perf_counter()
        try:
            rows += available[name](settings)
        except Exception as exc:
            failed = True
            traceback.print_exc()
            rows.append(Row(name, "(failed)", "", "", skipped=f"{type(exc).__name__}: {exc}"))
        print(f" {time.perf_counter() - started:.1f}s", flush=True)
    info["load_average"] = {"start": load_at_start, "end": load_average()}
    print(
        f"\ndone in {time.perf_counter() - began:.0f}s; load average (1 min) "
        f"{load_at_start:.2f} at start, {info['load_average']['end']:.2f} at the end\n"
    )
    print(format_table(rows))
    if args.json:
        write_json(args.json, rows, info)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
