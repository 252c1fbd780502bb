"""Interleaved timing, result rows and the printed table.

Every comparison runs its variants side by side in one process: each round runs
every variant once, in a rotated order, and the reported ratio is the median of
the per-round ratios. Noise on a small machine comes in bursts, so comparing
runs that were close in time is what keeps a ratio honest.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# A batch runs ``n`` operations and returns the seconds they took.
Batch = Callable[[int], float]

# What a batch is timed with. Work done in process (no I/O) is timed in CPU seconds
# of this process, so other programs on a shared machine slow neither variant;
# anything that waits on a socket (Redis, SQL, HTTP) is timed on the wall clock.
cpu_clock = time.process_time
wall_clock = time.perf_counter


@dataclass(frozen=True)
class Settings:
    """Sizes for one run: ``quick`` shrinks everything so the smoke test is fast."""

    quick: bool = False

    def pick(self, full: int, quick: int) -> int:
        return quick if self.quick else full


def new_loop() -> asyncio.AbstractEventLoop:
    """A fresh event loop, also made current: some drivers look the loop up themselves."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop


def close_loop(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
    asyncio.set_event_loop(None)


class Lifespan:
    """The server's side of the ASGI lifespan, as uvicorn runs it: startup, then the
    state each request gets a copy of, then shutdown (awaited, in :meth:`stop`)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, app: Any) -> None:
        self.state: dict[str, Any] = {}
        self.to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        self.task = loop.create_task(app(scope, self.to_app.get, self.from_app.put))

    async def start(self) -> None:
        await self.to_app.put({"type": "lifespan.startup"})
        answer = await asyncio.wait_for(self.from_app.get(), 30)
        if answer["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"startup failed: {answer}")

    async def stop(self) -> None:
        await self.to_app.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(self.from_app.get(), 30)
        await asyncio.wait_for(self.task, 30)


@dataclass
class Samples:
    """Per-round rates (operations per second) of each variant, in round order."""

    rates: dict[str, list[float]] = field(default_factory=dict)

    def median(self, name: str) -> float:
        return statistics.median(self.rates[name])

    def ratio(self, subject: str, baseline: str) -> float:
        """Median over rounds of subject rate / baseline rate (higher is better)."""
        pairs = zip(self.rates[subject], self.rates[baseline], strict=True)
        return statistics.median(s / b for s, b in pairs)


def interleave(
    batches: Mapping[str, Batch],
    n: int | Mapping[str, int],
    rounds: int,
    warmup: int = 1,
    order: Callable[[int], Sequence[str]] | None = None,
) -> Samples:
    """Run every batch ``rounds`` times, alternating variants; return rates per round.

    ``n`` is the batch size, or one per variant (a slow baseline needs fewer
    operations for the same time). The order rotates each round so no variant
    always runs first, unless ``order(round)`` gives it. ``warmup`` untimed batches
    per variant run before.
    """
    names = list(batches)
    sizes = {name: n if isinstance(n, int) else n[name] for name in names}
    for name in names:
        for _ in range(warmup):
            batches[name](sizes[name])
    samples = Samples({name: [] for name in names})
    for index in range(rounds):
        shift = index % len(names)
        for name in order(index) if order else names[shift:] + names[:shift]:
            gc.collect()
            seconds = batches[name](sizes[name])
            samples.rates[name].append(sizes[name] / seconds)
    return samples


@dataclass
class Row:
    """One line of the table: a subject compared with its baseline."""

    measure: str
    subject: str
    baseline: str
    unit: str
    subject_value: float | None = None
    baseline_value: float | None = None
    ratio: float | None = None
    target: float | None = None  # minimum ratio; None when the row only reports
    note: str = ""
    skipped: str | None = None

    @property
    def verdict(self) -> str:
        if self.skipped is not None:
            return "skip"
        if self.target is None or self.ratio is None:
            return "info"
        return "pass" if self.ratio >= self.target else "MISS"


def compared(
    measure: str,
    samples: Samples,
    subject: str,
    baseline: str,
    *,
    unit: str,
    target: float | None,
    note: str = "",
) -> Row:
    """A row for ``subject`` vs ``baseline`` from interleaved samples (rates).

    With a time ``unit`` (``ms``, ``µs``) the values shown are time per operation;
    the ratio is always subject speed / baseline speed, so higher is better.
    """
    return Row(
        measure,
        subject,
        baseline,
        unit,
        in_unit(samples.median(subject), unit),
        in_unit(samples.median(baseline), unit),
        samples.ratio(subject, baseline),
        target,
        note,
    )


TIME_UNITS = {"s": 1.0, "ms": 1e3, "µs": 1e6}


def in_unit(rate: float, unit: str) -> float:
    """A rate (per second) as shown in ``unit``: itself, or the time one operation takes."""
    scale = TIME_UNITS.get(unit)
    return rate if scale is None else scale / rate


def skipped(measure: str, subject: str, baseline: str, reason: str) -> Row:
    return Row(measure, subject, baseline, "", skipped=reason)


# -- output -------------------------------------------------------------------------------

COLUMNS = ("measure", "subject", "baseline", "subject", "baseline", "ratio", "target", "result")


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in TIME_UNITS:
        return f"{value:,.{3 if value < 10 else 1}f} {unit}"
    if value >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:,.2f} {unit}"


def format_table(rows: Sequence[Row]) -> str:
    lines = [COLUMNS]
    for row in rows:
        if row.skipped is not None:
            lines.append((row.measure, row.subject, row.baseline, "-", "-", "-", "-", "skip"))
            continue
        lines.append(
            (
                row.measure,
                row.subject,
                row.baseline,
                _number(row.subject_value, row.unit),
                _number(row.baseline_value, row.unit),
                "-" if row.ratio is None else f"{row.ratio:.3f}",
                "-" if row.target is None else f">= {row.target:g}",
                row.verdict,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    right = {3, 4, 5}
    out = []
    for number, line in enumerate(lines):
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(line)
        ]
        out.append("  ".join(cells).rstrip())
        if number == 0:
            out.append("  ".join("-" * width for width in widths))
    notes = [
        f"  {row.measure} / {row.subject}: {row.skipped or row.note}"
        for row in rows
        if row.skipped or row.note
    ]
    if notes:
        out += ["", "notes:", *notes]
    return "\n".join(out)


def write_json(path: Path, rows: Sequence[Row], machine: Mapping[str, Any]) -> None:
    document = {
        "machine": dict(machine),
        "rows": [{**asdict(row), "verdict": row.verdict} for row in rows],
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
