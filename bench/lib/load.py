"""Phases of load against a running server, through the driver in its own process, each one a row of figures.

A phase is one driver run (connect, heartbeat or baseline; open or closed loop) with the CPU
every party used meanwhile. `Bench` holds a server and the participants across phases, so
each phase goes on from the connections and beat times the previous one left.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from pathlib import Path

from bench.lib import driver, report
from bench.lib.machine import CpuMeter
from bench.lib.server import PING_PATH, Server, ServerConfig, http_status

HEARTBEAT_INTERVAL = 15  # seconds, as the client beats (settings.PRESENCE["HEARTBEAT_INTERVAL"])
FALLBACK_PATH = "/api/whiteboard/sessions/{whiteboard_id}/connection-status"


def run_driver(spec: dict) -> driver.PhaseResult:
    """One phase in a fresh driver process; killed if it overruns its own limits."""
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe(duplex=False)
    proc = context.Process(target=driver.child_main, args=(spec, child_end), daemon=True)
    proc.start()
    child_end.close()
    limit = spec["seconds"] + driver.REQUEST_TIMEOUT + 30
    try:
        if not parent_end.poll(limit):
            raise RuntimeError(f"driver phase {spec['name']!r} did not finish within {limit:.0f} s")
        status, payload = parent_end.recv()
        if status != "ok":
            raise RuntimeError(f"driver phase {spec['name']!r} failed: {payload}")
        return payload
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(timeout=5)
        parent_end.close()


def merge(turns: list[tuple[driver.PhaseResult, dict[str, float]]]) -> tuple[driver.PhaseResult, dict[str, float]]:
    """Several runs of one phase as one: counts added, latencies pooled, CPU weighted by duration."""
    merged = driver.PhaseResult(name=turns[0][0].name, target_rate=turns[0][0].target_rate)
    cpu: dict[str, float] = {}
    for result, used in turns:
        merged.requests += result.requests
        merged.ok += result.ok
        merged.reconnects += result.reconnects
        merged.throttled += result.throttled
        merged.late_starts += result.late_starts
        merged.latencies += result.latencies
        merged.wall += result.wall
        merged.driver_cpu += result.driver_cpu
        for key, count in result.errors.items():
            merged.errors[key] = merged.errors.get(key, 0) + count
        for key, cores in used.items():
            cpu[key] = cpu.get(key, 0.0) + cores * result.wall
    return merged, {key: value / merged.wall for key, value in cpu.items()} if merged.wall else cpu


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


def summarize(result: driver.PhaseResult, *, cpu: dict[str, float], server: str, label: str) -> dict:
    """The row of figures for one phase."""
    lat = sorted(result.latencies)
    errors = sum(result.errors.values())
    driver_cores = result.driver_cpu / result.wall if result.wall else 0.0
    return {
        "phase": result.name,
        "endpoint": label,
        "server": server,
        "requests": result.requests,
        "ok": result.ok,
        "per_second": result.ok / result.wall if result.wall else 0.0,
        "target_rate": result.target_rate,
        "p50_ms": percentile(lat, 50) * 1000,
        "p99_ms": percentile(lat, 99) * 1000,
        "max_ms": (lat[-1] * 1000) if lat else float("nan"),
        "errors": errors,
        "error_kinds": result.errors,
        "reconnects": result.reconnects,
        "throttled": result.throttled,
        "late_starts": result.late_starts,
        "seconds": result.wall,
        "driver_cores": driver_cores,
        "gunicorn_cores": cpu.get("gunicorn", 0.0),
        "postgres_cores": cpu.get("postgres", 0.0),
        "redis_cores": cpu.get("redis", 0.0),
        # Processes that ended during the phase take their CPU time with them: what the machine did
        # beyond our own processes is the better measure of outside work.
        "other_cores": max(
            cpu.get("other", 0.0),
            cpu.get("machine", 0.0)
            - cpu.get("gunicorn", 0.0)
            - cpu.get("postgres", 0.0)
            - cpu.get("redis", 0.0)
            - driver_cores,
        ),
        "machine_cores": cpu.get("machine", 0.0),
    }


class Bench:
    """A server with `config` over the bench database and the participants driven against it.

    Every phase recorded becomes a row (printed as it comes, kept in `rows`)."""

    def __init__(
        self, config: ServerConfig, *, participants: list[dict], db_url: str, db_name: str, env: dict, log_dir: Path
    ):
        self.config, self.participants, self.db_name = config, participants, db_name
        self.server = Server(config, db_url=db_url, env=env, log_dir=log_dir)
        self.by_index = {p["index"]: p for p in participants}
        self.rows: list[dict] = []
        self.labels = {"connect": "POST connect", "heartbeat": "POST heartbeat"}

    def __enter__(self) -> Bench:
        self.server.__enter__()
        sample = self.participants[0]
        if http_status(self.server.port, PING_PATH, sample["token"]) == 200:
            self.baseline_path, self.labels["baseline"] = PING_PATH, "baseline GET /api/ping"
        else:
            self.baseline_path, self.labels["baseline"] = FALLBACK_PATH, "baseline* connection-status"
            print("  (GET /api/ping is missing: the baseline falls back to GET connection-status, which does more)")
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()

    def run(self, name: str, kind: str, **spec) -> tuple[driver.PhaseResult, dict[str, float]]:
        """One driver run, not recorded: its result and the CPU each party used."""
        # Those who beat longest ago go first, as their 15 s timers would fire.
        waiting = sorted(self.participants, key=lambda p: p.get("last_beat", 0.0))
        spec = {
            "name": name,
            "kind": kind,
            "host": "127.0.0.1",
            "port": self.server.port,
            "participants": [{k: v for k, v in p.items() if k != "last_beat"} for p in waiting],
            "baseline_path": self.baseline_path,
            **spec,
        }
        meter = CpuMeter(self.server.proc.pid, self.db_name)
        meter.start()
        result = run_driver(spec)
        cpu = meter.stop()
        for index, connection_id in result.connection_ids.items():
            self.by_index[index]["connection_id"] = connection_id
        for index, at in result.last_beat.items():
            self.by_index[index]["last_beat"] = at
        return result, cpu

    def record(self, result: driver.PhaseResult, cpu: dict[str, float], kind: str) -> dict:
        row = summarize(result, cpu=cpu, server=self.config.label, label=self.labels[kind])
        report.print_row(row)
        self.rows.append(row)
        return row

    def phase(self, name: str, kind: str, **spec) -> dict:
        """One driver run, recorded."""
        return self.record(*self.run(name, kind, **spec), kind)

    def connect_all(self, *, concurrency: int, force: bool = False) -> dict | None:
        """Every participant connects (closed loop), unless all hold a connection already."""
        if force or not all(p.get("connection_id") for p in self.participants):
            return self.phase("connect (all)", "connect", mode="closed", concurrency=concurrency, seconds=120)
        return None

    def closed_turns(self, kinds: list[str], *, concurrency: int, seconds: float, rounds: int) -> dict[str, dict]:
        """Closed loop for each kind, `seconds` in all split into `rounds` turns taken in order.

        Taking turns means a drift of the machine's speed during the run (other virtual machines
        on the host, TIME_WAIT sockets piling up) weighs on every kind alike."""
        closed = {"mode": "closed", "concurrency": concurrency, "seconds": seconds / rounds}
        turns: dict[str, list] = {kind: [] for kind in kinds}
        for _ in range(rounds):
            for kind in kinds:
                turns[kind].append(self.run(f"{kind} closed", kind, **closed))
        return {kind: self.record(*merge(turns[kind]), kind) for kind in kinds}


def measure(config: ServerConfig, phases: Callable[[Bench], None], **bench) -> list[dict]:
    """Start a server with `config`, run `phases` against it, stop it: the rows recorded.

    A server that fails to start or a driver that fails is reported with the server's log, and
    the rows recorded until then are kept."""
    running = Bench(config, **bench)
    try:
        with running:
            phases(running)
    except RuntimeError as exc:
        print(f"  {config.label}: {exc}")
        print("  " + running.server.log_tail().replace("\n", "\n  "))
    return running.rows
