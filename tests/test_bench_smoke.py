"""``python -m bench --quick`` runs every measure and prints the table (no timing checks)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MEASURES = ("asgi", "adapter", "http", "create_app", "lifespan", "cache", "sql", "coordination")
# A row: measure, then a ratio such as 0.973 or 12.410, somewhere after it.
RATIO = r"\d+\.\d{3}"


@pytest.mark.slow
def test_quick_bench_prints_every_measure_with_a_ratio(tmp_path: Path) -> None:
    results = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(results)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = done.stdout
    assert done.returncode == 0, f"bench failed:\n{output}\n{done.stderr}"
    table = output.split("\nmeasure ", 1)[1]  # the table starts with its header row
    rows = json.loads(results.read_text())["rows"]
    for measure in MEASURES:
        lines = [line for line in table.splitlines() if line.startswith(f"{measure} ")]
        assert lines, f"measure {measure!r} missing from the table:\n{output}"
        measured = [row for row in rows if row["measure"] == measure]
        if all(row["verdict"] == "skip" for row in measured):
            # Only what the machine may lack: wrk, or a service that is down.
            reasons = " ".join(row["skipped"] for row in measured)
            assert re.search(r"wrk is not installed|not reachable", reasons), reasons
            continue
        assert any(re.search(RATIO, line) for line in lines), f"no ratio for {measure!r}"
        assert any(row["ratio"] is not None for row in measured)


def test_unknown_measure_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "nonsense"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "unknown measure(s): nonsense" in done.stdout
