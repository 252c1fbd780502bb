"""What importing spoc_asgi adds to a server process (docs/performance.md, "Import time").

Each sample is a fresh interpreter under ``python -X importtime`` that first imports
what a server running a Starlette app has loaded anyway (``uvicorn``,
``starlette.applications``), then the statement measured; the figure is the sum of the
cumulative times of the top-level imports after that baseline, the median over runs.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

from bench.harness import Row, Settings

MEASURE = "import"
BASELINE = "import uvicorn, starlette.applications"
STATEMENTS = ("import spoc_asgi", "from spoc_asgi import create_app")


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
    runs = settings.pick(21, 3)
    rows = []
    for statement in STATEMENTS:
        samples = [added_ms(statement) for _ in range(runs)]
        rows.append(
            Row(
                MEASURE,
                statement,
                BASELINE,
                "ms",
                subject_value=statistics.median(samples),
                note=f"added to the baseline; median of {runs} fresh interpreters, "
                f"min {min(samples):.1f} ms",
            )
        )
    return rows
