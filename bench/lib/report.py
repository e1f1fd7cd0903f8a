"""How the bench scripts print: the machine, a row per phase, summaries with verdicts; medians; JSON."""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path

DISTURBED_CORES = 0.15  # CPU used by others during a phase above which its figures understate the machine


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_machine(facts: dict) -> None:
    print(
        f"Machine: {facts['cpu']}, {facts['cores']} cores, {facts['ram_gib']} GiB RAM; PostgreSQL "
        f"{facts['postgresql']}; Python {facts['python']}, Django {facts['django']}, gunicorn {facts['gunicorn']}"
    )


def warn_busy(idle: float, cores: int) -> None:
    """Warn when the machine is already busy before the run starts."""
    if idle > DISTURBED_CORES:
        print(
            f"WARNING: {idle:.2f} of {cores} cores are busy before the run starts (other work on this "
            "machine): every figure below will be lower than this machine can do. The 'others' column shows "
            "how much each phase lost."
        )


def print_row_header() -> None:
    print(
        f"  {'server':13} {'phase':22} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'errors':>6} "
        f"{'409':>4} {'429':>4}  cores: {'gunicorn':>8} {'postgres':>8} {'redis':>5} {'driver':>6} {'others':>6} {'machine':>7}"
    )


def print_row(row: dict) -> None:
    name = row["phase"]
    if row["target_rate"]:
        name += f" @{row['target_rate']:.0f}/s"
    print(
        f"  {row['server']:13} {name:22} {row['per_second']:>7.0f} {row['p50_ms']:>7.1f} {row['p99_ms']:>7.1f} "
        f"{row['max_ms']:>7.0f} {row['errors']:>6} {row['reconnects']:>4} {row['throttled']:>4}   "
        f"      {row['gunicorn_cores']:>8.2f} {row['postgres_cores']:>8.2f} {row['redis_cores']:>5.2f} {row['driver_cores']:>6.2f} "
        f"{row['other_cores']:>6.2f} {row['machine_cores']:>7.2f}",
        flush=True,
    )
    if row["error_kinds"]:
        print(f"  {'':13} errors: {row['error_kinds']}", flush=True)


def print_write_side(rows: list[dict]) -> None:
    print("\nPostgreSQL write side (updates since the database was made; HOT = no index entry written)")
    for r in rows:
        share = r["hot_updates"] / r["updates"] if r["updates"] else 0.0
        print(
            f"  {r['table']:24} {r['updates']:>8,} updates, {share:5.0%} HOT, {r['indexes']} indexes, "
            f"{r['size_kb']:,.0f} KB with indexes"
        )


def print_summary_header(facts: dict, *, server: str, concurrency: int) -> None:
    print("\n" + "=" * 100)
    print(
        f"Summary ({facts['cpu']}, {facts['cores']} cores, {facts['ram_gib']} GiB, PostgreSQL {facts['postgresql']};"
        f" gunicorn {server}, {concurrency} clients)"
    )


def warn_disturbed(rows: list[dict]) -> None:
    disturbed = [r for r in rows if r["other_cores"] > DISTURBED_CORES]
    if disturbed:
        print(
            f"  WARNING: other processes used more than {DISTURBED_CORES} cores during {len(disturbed)} of "
            f"{len(rows)} phases (up to {max(r['other_cores'] for r in disturbed):.2f} cores): those figures "
            "understate this machine."
        )


def median_ms(func, *, min_runs: int = 3, max_runs: int = 200, budget: float = 1.5) -> float:
    """Median wall time of `func()` in ms over as many runs as fit in `budget` seconds (bounded)."""
    times = []
    deadline = time.perf_counter() + budget
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() < deadline):
        t0 = time.perf_counter()
        func()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _plain(value):
    return asdict(value) if is_dataclass(value) else str(value)


def write_json(path: Path | None, **parts) -> None:
    """Every figure to `path` (--json), if given; the arguments as the run used them."""
    if path is None:
        return
    if "args" in parts:
        parts["args"] = {k: v for k, v in vars(parts["args"]).items() if k != "json"}
    path.write_text(json.dumps(parts, indent=2, default=_plain))
