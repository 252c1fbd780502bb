"""Measure ``create_app``: build time against the number of plugins.

A ``validators`` group of N URIs, each naming one attribute of a few modules that
are imported before timing starts (module import cost is the same whatever reads
the configuration, so it is left out of both sides). The floor is the least any
loader must do: parse the same TOML with ``tomllib``, then ``import_module`` +
``getattr`` for every URI.
"""

from __future__ import annotations

import importlib
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.harness import Batch, Row, Settings, compared, cpu_clock, interleave
from spoc_asgi import create_app

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MODULES = 4  # the URIs are spread over this many pre-imported modules
MODULE_PREFIX = "spoc_bench_targets_"
SPOC = "create_app"
FLOOR = "tomllib + import_module + getattr"


def uris(count: int) -> list[str]:
    return [f"{MODULE_PREFIX}{i % MODULES}.validator_{i // MODULES}" for i in range(count)]


@contextmanager
def targets(largest: int) -> Iterator[Path]:
    """A dir on sys.path with the target modules, imported; removed afterwards."""
    per_module = -(-largest // MODULES)
    with tempfile.TemporaryDirectory(prefix="spoc-bench-targets-") as tmp:
        for index in range(MODULES):
            body = "".join(
                f"def validator_{i}(value):\n    return value\n" for i in range(per_module)
            )
            (Path(tmp) / f"{MODULE_PREFIX}{index}.py").write_text(body, encoding="utf-8")
        sys.path.insert(0, tmp)
        try:
            for index in range(MODULES):
                importlib.import_module(f"{MODULE_PREFIX}{index}")
            yield Path(tmp)
        finally:
            sys.path.remove(tmp)
            for index in range(MODULES):
                sys.modules.pop(f"{MODULE_PREFIX}{index}", None)


def write_project(base: Path, count: int) -> Path:
    base.mkdir(parents=True)
    lines = "".join(f'    "{uri}",\n' for uri in uris(count))
    path = base / "spoc.toml"
    path.write_text(f"[spoc.plugins]\nvalidators = [\n{lines}]\n", encoding="utf-8")
    return path


def spoc_batch(base: Path, count: int) -> Batch:
    def run(n: int) -> float:
        began = cpu_clock()
        for _ in range(n):
            app = create_app(base)
        elapsed = cpu_clock() - began
        loaded = app.state.framework.plugins["validators"]
        assert len(loaded) == count, f"create_app loaded {len(loaded)} of {count} plugins"
        return elapsed

    return run


def floor_batch(toml_path: Path, count: int) -> Batch:
    def load() -> list[object]:
        with toml_path.open("rb") as file:
            document = tomllib.load(file)
        loaded = []
        for uri in document["spoc"]["plugins"]["validators"]:
            module_name, _, attribute = uri.rpartition(".")
            loaded.append(getattr(importlib.import_module(module_name), attribute))
        return loaded

    def run(n: int) -> float:
        began = cpu_clock()
        for _ in range(n):
            loaded = load()
        elapsed = cpu_clock() - began
        assert len(loaded) == count
        return elapsed

    return run


def measure_create_app(settings: Settings) -> list[Row]:
    sizes = [10, 100, 1_000, 10_000]
    rounds = settings.pick(7, 2)
    # Repetitions per batch, so that each batch takes a comparable time.
    repeats = {10: settings.pick(100, 5), 100: settings.pick(30, 2), 1_000: settings.pick(4, 1)}
    rows: list[Row] = []
    with targets(max(sizes)), tempfile.TemporaryDirectory(prefix="spoc-bench-") as tmp:
        bases: dict[int, Path] = {}
        for count in sizes:
            bases[count] = base = Path(tmp) / f"n{count}"
            toml_path = write_project(base, count)
            subject = f"{SPOC}, {count:,} plugins"
            samples = interleave(
                {subject: spoc_batch(base, count), FLOOR: floor_batch(toml_path, count)},
                repeats.get(count, 1),
                rounds,
            )
            per_plugin = 1e6 / samples.median(subject) / count
            floor_per_plugin = 1e6 / samples.median(FLOOR) / count
            rows.append(
                compared(
                    "create_app",
                    samples,
                    subject,
                    FLOOR,
                    unit="ms",
                    target=0.5 if count == 1_000 else None,
                    note=f"{per_plugin:.1f} µs/plugin (floor {floor_per_plugin:.1f} µs/plugin)",
                )
            )
        rows.append(linearity(bases, settings, rounds))
    return rows


SMALL, LARGE = 1_000, 10_000


def linearity(bases: dict[int, Path], settings: Settings, rounds: int) -> Row:
    """Time per plugin at 10,000 against 1,000, interleaved like every other comparison
    (ten builds of 1,000 against one of 10,000): linear growth keeps it flat."""
    small, large = f"{SMALL:,} plugins", f"{LARGE:,} plugins"
    samples = interleave(
        {small: spoc_batch(bases[SMALL], SMALL), large: spoc_batch(bases[LARGE], LARGE)},
        {small: settings.pick(10, 1), large: 1},
        rounds,
    )
    # Rates are builds per second: per plugin, scale by the plugins each build loads.
    per_plugin = {
        name: 1e6 / samples.median(name) / count for name, count in ((small, SMALL), (large, LARGE))
    }
    ratio = statistics.median(
        (b * LARGE) / (s * SMALL)
        for s, b in zip(samples.rates[small], samples.rates[large], strict=True)
    )
    return Row(
        "create_app",
        "µs/plugin at 10,000",
        "µs/plugin at 1,000",
        "µs",
        per_plugin[large],
        per_plugin[small],
        ratio,
        0.8,
        note="linear growth: the cost per plugin stays flat as the group grows 10x",
    )
