"""Measure ``peers``: one service written four ways, under uvicorn, loaded by ``wrk``.

The apps (``bench/peers/*_app.py``, the behaviour in :mod:`bench.peers.shared`):
spoc_asgi from its TOML, Starlette wired by hand, FastAPI and Litestar each as its docs
teach. For each backend set (SQLite + memory cache; PostgreSQL + Redis) the four run as
uvicorn servers side by side (one worker each, same options), and ``wrk`` runs against
one after the other, round after round, as in measure ``http``; the variant order
rotates every round. Each wrk run requests ``/items/1`` .. ``/items/ROWS`` in turn, so
every request crosses the five middleware and reads through the cache; one request in
``FRESH_EVERY`` asks for a fresh read, from the database (the warm-up round fills the
cache). Reported: requests/s and p99 latency (wrk ``--latency``), medians over rounds,
and the ratios of spoc_asgi to each peer (the median of per-round ratios).

Each round measures spoc_asgi and hand-wired Starlette back to back, the first of the
two alternating (ABBA), then FastAPI and Litestar (see :func:`paired`): the comparison
the target is about never straddles a slow server. The note gives the share of CPU time
the hypervisor took (steal, ``/proc/stat``) during the rounds.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

from bench.backends import POSTGRES_URL, REDIS_URL, reachable
from bench.harness import Row, Settings, compared, interleave, skipped
from bench.http import cpu_seconds, run_wrk, server, settle
from bench.peers.shared import API_KEY, FRESH_EVERY, ROWS

SPOC = "spoc_asgi (TOML)"
HAND = "Starlette, hand-wired"
PEERS = {
    SPOC: "bench.peers.spoc_app:app",
    HAND: "bench.peers.starlette_app:app",
    "FastAPI": "bench.peers.fastapi_app:app",
    "Litestar": "bench.peers.litestar_app:app",
}
TARGETS = {HAND: 1.0, "FastAPI": 3.0, "Litestar": None}
BACKENDS = {"sqlite": "SQLite + memory", "postgres": "PostgreSQL + Redis"}
CONNECTIONS = 32
PATH = "/items/1"

WRK_SCRIPT = f"""
-- Items 1 .. {ROWS} in turn, every request with the API key; one in {FRESH_EVERY} asks
-- for a fresh read (cache-control: no-cache), which goes to the database.
local counter = 0
local cached = {{["x-api-key"] = "{API_KEY}"}}
local fresh = {{["x-api-key"] = "{API_KEY}", ["cache-control"] = "no-cache"}}
request = function()
  counter = counter + 1
  local path = "/items/" .. (counter % {ROWS} + 1)
  if counter % {FRESH_EVERY} == 0 then
    return wrk.format(nil, path, fresh)
  end
  return wrk.format(nil, path, cached)
end
"""

REQUESTS_PER_SECOND = re.compile(r"Requests/sec:\s*([\d.]+)")
P99 = re.compile(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, seconds: int, script: Path) -> tuple[float, float]:
    """(requests/s, p99 in ms) of one wrk run; any error response fails the run."""
    output = run_wrk(url + PATH, seconds, script, "--latency", connections=CONNECTIONS)
    rate, p99 = REQUESTS_PER_SECOND.search(output), P99.search(output)
    if rate is None or p99 is None:
        raise RuntimeError(f"no Requests/sec or 99% in wrk's output:\n{output}")
    return float(rate.group(1)), float(p99.group(1)) * TO_MS[p99.group(2)]


def unavailable(backends: str) -> str | None:
    if backends == "sqlite":
        return None
    for url in (POSTGRES_URL, REDIS_URL):
        parts = urlsplit(url)
        if not reachable(parts.hostname or "127.0.0.1", parts.port or 0):
            return f"{parts.scheme} at {parts.hostname}:{parts.port} is not reachable"
    return None


def environment(backends: str, name: str, tmp: str) -> dict[str, str]:
    """Per server: its own table, SQLite file and cache prefix (the servers are shared)."""
    tag = f"{os.getpid()}_{name.split()[0].strip(',').lower()}"
    return {
        "PEERS_BACKENDS": backends,
        "PEERS_TABLE": f"spoc_peers_{tag}",
        "PEERS_SQLITE": str(Path(tmp) / f"{tag}.sqlite3"),
        "PEERS_PREFIX": f"spoc_peers:{tag}:",
        "PEERS_POSTGRES_URL": POSTGRES_URL,
        "PEERS_REDIS_URL": REDIS_URL,
    }


def paired(index: int) -> list[str]:
    """Round ``index``: spoc_asgi and Starlette back to back, then the other two.

    Over four rounds each of the pair goes first twice, once after FastAPI and once
    after Litestar (the last server of the round before): S H F L, H S F L, S H L F,
    H S L F. So neither of the two always follows the same server.
    """
    spoc, hand, fastapi, litestar = PEERS
    pair = [spoc, hand] if index % 2 == 0 else [hand, spoc]
    rest = [fastapi, litestar] if index % 4 < 2 else [litestar, fastapi]
    return pair + rest


def steal() -> tuple[int, int] | None:
    """(steal, all) CPU ticks so far, from /proc/stat; None off Linux."""
    try:
        fields = [int(field) for field in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def steal_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    if before is None or after is None or after[1] == before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def measure_peers(settings: Settings) -> list[Row]:
    if shutil.which("wrk") is None:
        reason = "wrk is not installed (apt-get install -y wrk); see docs/performance.md"
        return [skipped("peers", SPOC, "(all)", reason)]
    only = os.environ.get("SPOC_BENCH_PEERS_BACKENDS", ",".join(BACKENDS)).split(",")
    rows: list[Row] = []
    for backends in only:
        reason = unavailable(backends)
        if reason is not None:
            rows.append(skipped("peers", f"{SPOC}, {BACKENDS[backends]}", "(all)", reason))
            continue
        rows += measure_backends(settings, backends)
    return rows


def measure_backends(settings: Settings, backends: str) -> list[Row]:
    seconds = settings.pick(int(os.environ.get("SPOC_BENCH_PEERS_SECONDS", "3")), 1)
    rounds = settings.pick(int(os.environ.get("SPOC_BENCH_PEERS_ROUNDS", "8")), 1)
    p99s: dict[str, list[float]] = {name: [] for name in PEERS}
    # The server process's own CPU time per request: unlike requests/s, it does not
    # move with what else (PostgreSQL, Redis, wrk) is scheduled on the two cores.
    cpus: dict[str, list[float]] = {name: [] for name in PEERS}
    with tempfile.TemporaryDirectory(prefix="spoc-bench-peers-") as tmp, ExitStack() as stack:
        script = Path(tmp) / "items.lua"
        script.write_text(WRK_SCRIPT, encoding="utf-8")
        served = {}
        for name, target in PEERS.items():
            log = Path(tmp) / f"{name.split()[0].strip(',')}.log"
            env = environment(backends, name, tmp)
            served[name] = stack.enter_context(
                server(target, log, env=env, path=PATH, headers={"x-api-key": API_KEY})
            )

        def run(name: str) -> object:
            def timed(n: int) -> float:
                before = cpu_seconds(served[name].pid)
                rate, p99 = wrk(served[name].url, seconds, script)
                settle(served[name].pid)  # its requests in flight finish on its own clock
                after = cpu_seconds(served[name].pid)
                p99s[name].append(p99)
                if before is not None and after is not None:
                    cpus[name].append((after - before) / (rate * seconds) * 1e6)
                return n / rate

            return timed

        stolen_before = steal()
        samples = interleave(
            {name: run(name) for name in PEERS},  # type: ignore[misc]
            1,
            rounds,
            warmup=0 if settings.quick else 1,
            order=paired,
        )
        stolen = steal_share(stolen_before, steal())
    warmups = 0 if settings.quick else 1
    for name in PEERS:
        del p99s[name][:warmups]
        del cpus[name][:warmups]
    label = BACKENDS[backends]
    note = (
        f"{label}; uvicorn, 1 worker each; wrk -t1 -c{CONNECTIONS} -d{seconds}s --latency, "
        f"{rounds} interleaved rounds; GET /items/1..{ROWS}, 1 in {FRESH_EVERY} from the database"
        + (f"; steal {stolen:.0%} of CPU time" if stolen is not None else "")
    )
    rows = []
    for peer, target in TARGETS.items():
        rows.append(
            compared(
                "peers",
                samples,
                SPOC,
                peer,
                unit="req/s",
                target=target,
                note=note if peer == HAND else "",
            )
        )
        rows[-1].subject = f"{SPOC}, {label}"
    # For p99 and CPU per request, lower is better: the ratio is peer / spoc_asgi.
    for measure, unit, values in (("peers p99", "ms", p99s), ("peers cpu", "µs/req", cpus)):
        if not values[SPOC]:
            continue  # no /proc: CPU time per process is not available here
        for peer in TARGETS:
            ratios = [b / s for s, b in zip(values[SPOC], values[peer], strict=True)]
            rows.append(
                Row(
                    measure,
                    f"{SPOC}, {label}",
                    peer,
                    unit,
                    statistics.median(values[SPOC]),
                    statistics.median(values[peer]),
                    statistics.median(ratios),
                    None,
                )
            )
    return rows
