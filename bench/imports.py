"""What importing spoc_asgi adds to a server process (docs/performance.md, "Import time").

Each sample is a fresh interpreter under ``python -X importtime`` that first imports
what a server running a Starlette app has loaded anyway (``uvicorn``,
``starlette.applications``), then the statement measured; the figure is the sum of the
cumulative times of the top-level imports after that baseline, the median over runs.
The package's bytecode is compiled first, as ``pip install`` does, so that neither
``PYTHONDONTWRITEBYTECODE`` nor a fresh checkout turns the figure into compile time.
"""

from __future__ import annotations

import compileall
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import spoc_asgi
from bench.harness import Row, Settings

MEASURE = "import"
BASELINE = "import uvicorn, starlette.applications"
STATEMENTS = ("import spoc_asgi", "from spoc_asgi import create_app")
# What serving the smallest project adds: its spoc.toml read, every check run.
BUILD = "from spoc_asgi import create_app; create_app({base_dir!r})"
MINIMAL_TOML = "[spoc.plugins]\nroutes = []\nmiddleware = []\nhooks = []\n"


def added_ms(statement: str) -> float:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"{BASELINE}\n{statement}"],
        capture_output=True,
        text=True,
        check=True,
    )
    total, after = 0, False
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        _, cumulative, name = line.split("|")
        if name.rstrip() == " starlette.applications":
            after = True
        elif after and not name.startswith("  ") and cumulative.strip().isdigit():
            total += int(cumulative)  # a top-level import: its own and its children's time
    return total / 1000


def measure_imports(settings: Settings) -> list[Row]:
    compileall.compile_dir(Path(spoc_asgi.__file__).parent, quiet=1)
    runs = settings.pick(21, 3)
    with tempfile.TemporaryDirectory() as base_dir:
        (Path(base_dir) / "spoc.toml").write_text(MINIMAL_TOML, encoding="utf-8")
        statements = {statement: statement for statement in STATEMENTS}
        statements["create_app() of a minimal spoc.toml"] = BUILD.format(base_dir=base_dir)
        rows = []
        for label, statement in statements.items():
            samples = [added_ms(statement) for _ in range(runs)]
            rows.append(
                Row(
                    MEASURE,
                    label,
                    BASELINE,
                    "ms",
                    subject_value=statistics.median(samples),
                    note=f"imports added to the baseline; median of {runs} fresh "
                    f"interpreters, min {min(samples):.1f} ms",
                )
            )
    return rows
