"""What this machine is, and who used its CPU during a phase: the server, PostgreSQL, Redis, the driver, others."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path


def facts(pg_url: str) -> dict:
    """CPU model, cores, RAM, and the versions of PostgreSQL, Python, Django and gunicorn."""
    import importlib.metadata

    import psycopg

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = int(
        next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    )
    with psycopg.connect(f"{pg_url}/postgres", autocommit=True) as conn:
        pg_version = conn.execute("SHOW server_version").fetchone()[0]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "postgresql": pg_version,
        "python": platform.python_version(),
        "django": importlib.metadata.version("django"),
        "gunicorn": importlib.metadata.version("gunicorn"),
    }


def _proc_cpu() -> dict[int, tuple[str, int, float]]:
    """pid -> (command line, parent pid, CPU seconds so far), for every process we can read."""
    tick = os.sysconf("SC_CLK_TCK")
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{name}/stat").read_text()
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        table[int(name)] = (cmdline or comm, int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    return table


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]
    return (sum(values) - idle) / tick, sum(values) / tick


class CpuMeter:
    """CPU (in cores) used between start() and stop() by: gunicorn, PostgreSQL working for the bench
    database (its backends, and the shared WAL writer, checkpointer, autovacuum), every other process
    (other work on the machine, which makes the figures low), and the machine as a whole."""

    def __init__(self, server_pid: int, db_name: str):
        self.server_pid, self.db_name = server_pid, db_name

    def _groups(self) -> dict[str, dict[int, float]]:
        groups: dict[str, dict[int, float]] = {"gunicorn": {}, "postgres": {}, "redis": {}, "other": {}}
        me = os.getpid()
        for pid, (cmdline, ppid, cpu) in _proc_cpu().items():
            if pid == self.server_pid or ppid == self.server_pid:
                groups["gunicorn"][pid] = cpu
            elif cmdline.startswith("postgres"):
                # A backend reads "postgres: [CLUSTER:] USER DATABASE HOST(PORT) STATE"; the background
                # processes (WAL writer, checkpointer, autovacuum) serve everyone and count as ours.
                backend = "(" in cmdline or "[local]" in cmdline
                ours = not backend or f" {self.db_name} " in cmdline
                groups["postgres" if ours else "other"][pid] = cpu
            elif cmdline.startswith("redis-server"):  # the throttle counters (--cache-url)
                groups["redis"][pid] = cpu
            elif pid != me and ppid != me:  # this process and the driver are counted apart
                groups["other"][pid] = cpu
        return groups

    def start(self) -> None:
        self.before, self.machine_before, self.t0 = self._groups(), _machine_busy(), time.perf_counter()

    def stop(self) -> dict[str, float]:
        after, machine_after, wall = self._groups(), _machine_busy(), time.perf_counter() - self.t0
        used = {
            name: sum(cpu - self.before[name].get(pid, 0.0) for pid, cpu in pids.items()) / wall
            for name, pids in after.items()
        }
        # The busiest single server process: one worker near 1 core is saturated whatever the total says.
        used["gunicorn_busiest"] = (
            max((cpu - self.before["gunicorn"].get(pid, 0.0) for pid, cpu in after["gunicorn"].items()), default=0.0)
            / wall
        )
        busy = machine_after[0] - self.machine_before[0]
        total = machine_after[1] - self.machine_before[1]
        used["machine"] = busy / total * (os.cpu_count() or 1) if total else 0.0
        return used


def background_load(seconds: float = 2.0) -> float:
    """Cores busy on this machine while we do nothing: other people's work skews every figure."""
    meter = CpuMeter(server_pid=-1, db_name="")
    meter.start()
    time.sleep(seconds)
    return meter.stop()["machine"]
