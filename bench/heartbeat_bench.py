#!/usr/bin/env python3
"""How many whiteboard participants one machine carries: the heartbeat benchmark (issue 5).

    .venv/bin/python bench/heartbeat_bench.py            # everything, about 5 minutes
    .venv/bin/python bench/heartbeat_bench.py --help     # durations, participants, server configurations

1. Makes its own PostgreSQL database (dropped and made again each run), migrates it, and
   creates N participants: N/2 running tutoring sessions, each with a whiteboard, a tutor
   and a student, and an API token per participant.
2. Starts the production server (gunicorn config.wsgi) against it, for each server
   configuration measured, and always stops it (also on Ctrl-C).
3. From another process (bench/driver.py) every participant connects, then beats:
   - open loop at the rate that carries the target participants at a 15 s interval
     (3,000 -> 200 heartbeats/s): p50/p99 latency and errors at that rate;
   - closed loop, C concurrent clients: the most heartbeats/s the server gives, and the
     same for the baseline endpoint (GET /api/ping: authenticate, answer JSON), so
     heartbeat/baseline says what presence tracking costs above the bare framework;
   - open loop at rising rates, to find the highest rate still under 100 ms at p99.
4. Read side, in this process: a suggestion from 1,000 and 10,000 presence signals, and
   the tutor dashboard's query count and time with 500 sessions (bench/suggestion_bench.py).

Prints a summary with the issue's targets marked PASS or FAIL. Bounded throughout: each
phase has a duration and a request limit, and the driver is killed if it overruns.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

import driver  # noqa: E402 - after the path set-up above
import suggestion_bench  # noqa: E402

HEARTBEAT_INTERVAL = 15  # seconds, as the client beats (settings.PRESENCE["HEARTBEAT_INTERVAL"])
TARGET_PARTICIPANTS = 3_000
TARGET_RATIO = 0.70
TARGET_P99_MS = 100.0
PING_PATH = "/api/ping"
FALLBACK_PATH = "/api/whiteboard/sessions/{whiteboard_id}/connection-status"
HIDDEN_SHARE = 10  # one participant in this many beats from a hidden tab


# --- arguments ------------------------------------------------------------------


@dataclass(frozen=True)
class ServerConfig:
    """A gunicorn worker set-up, written `sync:4` or `gthread:2:4` (class:workers[:threads])."""

    worker_class: str
    workers: int
    threads: int = 1

    @classmethod
    def parse(cls, text: str) -> ServerConfig:
        parts = text.split(":")
        if parts[0] not in ("sync", "gthread") or len(parts) not in (2, 3):
            raise argparse.ArgumentTypeError(f"{text!r}: expected sync:WORKERS or gthread:WORKERS:THREADS")
        return cls(parts[0], int(parts[1]), int(parts[2]) if len(parts) == 3 else 1)

    @property
    def label(self) -> str:
        if self.worker_class == "sync":
            return f"sync x{self.workers}"
        return f"gthread {self.workers}x{self.threads}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--participants",
        type=int,
        default=TARGET_PARTICIPANTS,
        help="simulated participants (tutor + student per session)",
    )
    parser.add_argument(
        "--target-participants",
        type=int,
        default=TARGET_PARTICIPANTS,
        help="the open-loop rate is this many participants beating every 15 s",
    )
    parser.add_argument(
        "--open-seconds", type=float, default=40, help="duration of the open-loop run at the target rate"
    )
    parser.add_argument(
        "--closed-seconds", type=float, default=16, help="closed-loop time per endpoint (split over the rounds)"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop concurrent clients")
    parser.add_argument(
        "--rounds", type=int, default=2, help="closed-loop heartbeat and baseline runs take this many turns each"
    )
    parser.add_argument(
        "--server",
        type=ServerConfig.parse,
        default="sync:2",
        help="the configuration measured in full (open loop, closed loop, capacity)",
    )
    parser.add_argument(
        "--compare",
        type=lambda s: [ServerConfig.parse(x) for x in s.split(",") if x],
        default="sync:4,gthread:2:4",
        help="other configurations, closed loop only (comma-separated; '' for none)",
    )
    parser.add_argument(
        "--capacity-fractions",
        default="0.6,0.75,0.9",
        help="open-loop steps, as fractions of the closed-loop heartbeat maximum ('' to skip)",
    )
    parser.add_argument("--capacity-seconds", type=float, default=12, help="duration of each capacity step")
    parser.add_argument("--dashboard-sessions", type=int, default=500, help="sessions on the big dashboard")
    parser.add_argument("--skip-read-side", action="store_true", help="no suggestion or dashboard timings")
    parser.add_argument("--only-read-side", action="store_true", help="only the suggestion and dashboard timings")
    parser.add_argument(
        "--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server (no database name)"
    )
    parser.add_argument("--db-name", default="attendance_bench", help="database to (re)create; dropped at each run")
    parser.add_argument(
        "--cache-url",
        default="redis://127.0.0.1:6379/1",
        help="the server's CACHE_URL, where throttle counters live, as in production ('' for local memory)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument(
        "--sql-after-migrate",
        action="append",
        default=[],
        metavar="SQL",
        help="run this SQL on the bench database after migrating, to try a schema change before writing its "
        'migration (e.g. "ALTER TABLE whiteboard_connections SET (fillfactor = 50)"); repeatable',
    )
    args = parser.parse_args(argv)
    if args.participants < 2 or args.participants % 2:
        parser.error("--participants must be an even number >= 2")
    return args


# --- the machine -----------------------------------------------------------------


def machine_facts(pg_url: str) -> dict:
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


# --- the database ------------------------------------------------------------------


def recreate_database(pg_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{pg_url}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup_django(db_url: str) -> None:
    """Django in this process, on the bench database, for set-up and the read-side timings."""
    os.environ["DATABASE_URL"] = db_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # DEBUG off requires one
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,testserver"  # the test client's host, for the dashboard
    # The dashboard renders templates; the manifest storage would need collectstatic first.
    os.environ["STATICFILES_BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def populate(participants: int) -> list[dict]:
    """N/2 running sessions with a whiteboard each, and a token per participant. Returns the participants."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from accounts.models import ApiToken, hash_token_key
    from accounts.services import TOKEN_PREFIX
    from attendance.models import TutoringSession
    from whiteboard.models import WhiteboardSession

    user_model = get_user_model()
    password = make_password(None)  # unusable: these people only use tokens
    pairs = participants // 2
    tutors = user_model.objects.bulk_create(
        [user_model(username=f"bench-tutor-{i}", password=password) for i in range(pairs)], batch_size=2000
    )
    students = user_model.objects.bulk_create(
        [user_model(username=f"bench-student-{i}", password=password) for i in range(pairs)], batch_size=2000
    )
    whiteboards = WhiteboardSession.objects.bulk_create([WhiteboardSession() for _ in range(pairs)], batch_size=2000)
    now = timezone.now()
    TutoringSession.objects.bulk_create(
        [
            TutoringSession(
                tutor=t,
                student=s,
                whiteboard=w,
                title="bench",
                scheduled_start=now - timedelta(minutes=5),
                scheduled_end=now + timedelta(hours=3),
            )
            for t, s, w in zip(tutors, students, whiteboards, strict=True)
        ],
        batch_size=2000,
    )
    # What accounts.services.token_issue does, in bulk: a random key, only its hash stored.
    result, tokens = [], []
    for i in range(pairs):
        for user in (tutors[i], students[i]):
            key = TOKEN_PREFIX + secrets.token_urlsafe(32)
            tokens.append(ApiToken(user=user, name="bench", prefix=key[:12], key_hash=hash_token_key(key)))
            index = len(result)
            result.append(
                {
                    "index": index,
                    "whiteboard_id": whiteboards[i].pk,
                    "token": key,
                    "visibility": "hidden" if index % HIDDEN_SHARE == HIDDEN_SHARE - 1 else "visible",
                }
            )
    ApiToken.objects.bulk_create(tokens, batch_size=2000)
    return result


def populate_read_side(dashboard_sessions: int) -> dict:
    """People for the read-side timings: a tutor/student pair for suggestions, tutors with 50 and N sessions."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from accounts.services import token_issue
    from attendance.models import AttendanceSource, AttendanceStatus, TutoringSession
    from whiteboard.models import Connection, Role, WhiteboardSession
    from whiteboard.presence import span_totals

    user_model = get_user_model()
    password = make_password(None)
    suggestion_tutor = user_model.objects.create(username="bench-suggest-tutor", password=password)
    suggestion_student = user_model.objects.create(username="bench-suggest-student", password=password)
    students = user_model.objects.bulk_create(
        [user_model(username=f"bench-dash-student-{i}", password=password) for i in range(50)]
    )
    now = timezone.now()
    tutors = {}
    for count in sorted({50, dashboard_sessions}):
        tutor = user_model.objects.create(username=f"bench-dash-tutor-{count}", password=password)
        token_issue(user=tutor, name="bench dashboard")
        whiteboards = WhiteboardSession.objects.bulk_create([WhiteboardSession() for _ in range(count)])
        # Spread over the dashboard's window: 29 days back to 13 days ahead.
        first, step = now - timedelta(days=29), timedelta(days=42) / count
        sessions = []
        for k, whiteboard in enumerate(whiteboards):
            start = (first + k * step).replace(second=0, microsecond=0)
            end = start + timedelta(hours=1)
            session = TutoringSession(
                tutor=tutor,
                student=students[k % len(students)],
                whiteboard=whiteboard,
                title=f"Algebra {k}",
                scheduled_start=start,
                scheduled_end=end,
            )
            if end <= now:
                spans = [
                    {
                        "start": (start + timedelta(minutes=2)).isoformat(),
                        "end": (end - timedelta(minutes=1)).isoformat(),
                        "hidden": [],
                    }
                ]
                active, _ = span_totals(spans)
                for role in Role.values:
                    setattr(whiteboard, f"{role}_presence_spans", spans)
                    setattr(whiteboard, f"{role}_total_active_seconds", active)
                    setattr(whiteboard, f"{role}_connected_at", start + timedelta(minutes=2))
                    setattr(whiteboard, f"{role}_last_activity_at", end - timedelta(minutes=1))
                    setattr(whiteboard, f"{role}_disconnected_at", end - timedelta(minutes=1))
                if k % 3:  # two in three already marked by the tutor; the rest await a decision
                    session.attendance_source = AttendanceSource.MANUAL
                    session.tutor_attendance_status = session.student_attendance_status = AttendanceStatus.PRESENT
                    session.attendance_marked_by, session.attendance_marked_at = tutor, end
            sessions.append(session)
        WhiteboardSession.objects.bulk_update(
            [w for w in whiteboards if w.tutor_presence_spans],
            [
                f"{role}_{name}"
                for role in Role.values
                for name in (
                    "presence_spans",
                    "total_active_seconds",
                    "connected_at",
                    "last_activity_at",
                    "disconnected_at",
                )
            ],
            batch_size=500,
        )
        TutoringSession.objects.bulk_create(sessions)
        # Some open connections, so the dashboard's prefetch of live presence has rows to read.
        Connection.objects.bulk_create(
            [
                Connection(
                    whiteboard=w,
                    role=Role.TUTOR,
                    user=tutor,
                    opened_at=now,
                    last_signal_at=now,
                    expires_at=now + timedelta(seconds=45),
                )
                for w in whiteboards[::25]
            ]
        )
        tutors[count] = tutor
    return {"suggestion_tutor": suggestion_tutor, "suggestion_student": suggestion_student, "dashboard_tutors": tutors}


# --- the server ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(port: int, path: str, token: str | None = None, timeout: float = 2.0) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        return conn.getresponse().status
    finally:
        conn.close()


class Server:
    """gunicorn config.wsgi in its own process group, stopped on exit whatever happens."""

    def __init__(self, config: ServerConfig, *, db_url: str, env: dict, log_dir: Path):
        self.config = config
        self.port = free_port()
        self.log_path = log_dir / f"gunicorn-{config.worker_class}-{config.workers}x{config.threads}.log"
        self.env = {
            **env,
            "DATABASE_URL": db_url,
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1",
            "CONN_MAX_AGE": "600",  # each worker thread keeps its PostgreSQL connection
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        gunicorn = Path(sys.executable).with_name("gunicorn")
        cmd = [
            str(gunicorn),
            "config.wsgi",
            "--chdir",
            str(ROOT),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--worker-class",
            self.config.worker_class,
            "--workers",
            str(self.config.workers),
            "--threads",
            str(self.config.threads),
            "--backlog",
            "2048",
            "--graceful-timeout",
            "5",
            "--log-level",
            "warning",
        ]
        log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}; see {self.log_path}")
            try:
                http_status(self.port, PING_PATH, timeout=1.0)  # any answer (401) means it serves
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s; see {self.log_path}")

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # SIGTERM: gunicorn's graceful stop
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group we started, and only it
            self.proc.wait(timeout=10)


# --- CPU accounting ---------------------------------------------------------------


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


# --- the driver --------------------------------------------------------------------


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
    lat = sorted(result.latencies)
    errors = sum(result.errors.values())
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
        "driver_cores": result.driver_cpu / result.wall if result.wall else 0.0,
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
            - (result.driver_cpu / result.wall if result.wall else 0.0),
        ),
        "machine_cores": cpu.get("machine", 0.0),
    }


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


# --- the run ---------------------------------------------------------------------------


def measure_server(
    config: ServerConfig, *, args, participants: list[dict], db_url: str, env: dict, log_dir: Path, full: bool
) -> list[dict]:
    """Start gunicorn with `config`, run the phases, stop it. `full`: also open loop and capacity steps."""
    rows = []
    by_index = {p["index"]: p for p in participants}
    with Server(config, db_url=db_url, env=env, log_dir=log_dir) as server:
        sample = participants[0]
        if http_status(server.port, PING_PATH, sample["token"]) == 200:
            baseline_path, baseline_label = PING_PATH, "baseline GET /api/ping"
        else:
            baseline_path, baseline_label = FALLBACK_PATH, "baseline* connection-status"
            print("  (GET /api/ping is missing: the baseline falls back to GET connection-status, which does more)")

        def run(name: str, kind: str, **spec) -> tuple[driver.PhaseResult, dict[str, float]]:
            # Those who beat longest ago go first, as their 15 s timers would fire.
            waiting = sorted(participants, key=lambda p: p.get("last_beat", 0.0))
            spec = {
                "name": name,
                "kind": kind,
                "host": "127.0.0.1",
                "port": server.port,
                "participants": [{k: v for k, v in p.items() if k != "last_beat"} for p in waiting],
                "baseline_path": baseline_path,
                **spec,
            }
            meter = CpuMeter(server.proc.pid, args.db_name)
            meter.start()
            result = run_driver(spec)
            cpu = meter.stop()
            for index, connection_id in result.connection_ids.items():
                by_index[index]["connection_id"] = connection_id
            for index, at in result.last_beat.items():
                by_index[index]["last_beat"] = at
            return result, cpu

        def record(result: driver.PhaseResult, cpu: dict[str, float], label: str) -> dict:
            row = summarize(result, cpu=cpu, server=config.label, label=label)
            print_row(row)
            rows.append(row)
            return row

        def phase(name: str, kind: str, label: str, **spec) -> dict:
            return record(*run(name, kind, **spec), label)

        if full or not all(p.get("connection_id") for p in participants):
            closed_connect = {"mode": "closed", "concurrency": args.concurrency, "seconds": 120}
            phase("connect (all)", "connect", "POST connect", **closed_connect)
        if full:
            rate = args.target_participants / HEARTBEAT_INTERVAL
            phase("heartbeat open", "heartbeat", "POST heartbeat", mode="open", rate=rate, seconds=args.open_seconds)
        # Heartbeat and baseline take turns, so a drift of the machine's speed during the run
        # (other virtual machines on the host, TIME_WAIT sockets piling up) weighs on both alike.
        closed = {"mode": "closed", "concurrency": args.concurrency, "seconds": args.closed_seconds / args.rounds}
        turns: dict[str, list] = {"heartbeat": [], "baseline": []}
        for _ in range(args.rounds):
            for kind in turns:
                turns[kind].append(run(f"{kind} closed", kind, **closed))
        heartbeat = record(*merge(turns["heartbeat"]), "POST heartbeat")
        record(*merge(turns["baseline"]), baseline_label)
        if full and args.capacity_fractions:
            for fraction in (float(f) for f in args.capacity_fractions.split(",")):
                rate = round(heartbeat["per_second"] * fraction)
                phase(
                    f"capacity {fraction:.0%}",
                    "heartbeat",
                    "POST heartbeat",
                    mode="open",
                    rate=rate,
                    seconds=args.capacity_seconds,
                )
    return rows


def write_side(pg_url: str, db_name: str) -> list[dict]:
    """Per table written by heartbeats: updates, how many were HOT (no index touched), size now.

    Statistics reach pg_stat_user_tables a little after the transactions (up to a few seconds)."""
    import psycopg

    time.sleep(2)
    with psycopg.connect(f"{pg_url}/{db_name}", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT relname, n_tup_upd, n_tup_hot_upd, pg_total_relation_size(relid), "
            "(SELECT count(*) FROM pg_index WHERE indrelid = relid) "
            "FROM pg_stat_user_tables WHERE relname IN ('whiteboard_connections', 'whiteboard_sessions') "
            "ORDER BY relname"
        ).fetchall()
    result = [
        {"table": name, "updates": upd, "hot_updates": hot, "size_kb": size / 1024, "indexes": indexes}
        for name, upd, hot, size, indexes in rows
    ]
    print("\nPostgreSQL write side (updates since the database was made; HOT = no index entry written)")
    for r in result:
        share = r["hot_updates"] / r["updates"] if r["updates"] else 0.0
        print(
            f"  {r['table']:24} {r['updates']:>8,} updates, {share:5.0%} HOT, {r['indexes']} indexes, "
            f"{r['size_kb']:,.0f} KB with indexes"
        )
    return result


def report(rows: list[dict], args, read_side: dict | None, facts: dict) -> dict:
    main_label = args.server.label
    main = [r for r in rows if r["server"] == main_label]
    target_rate = args.target_participants / HEARTBEAT_INTERVAL
    open_row = next((r for r in main if r["phase"] == "heartbeat open"), None)
    hb = next((r for r in main if r["phase"] == "heartbeat closed"), None)
    base = next((r for r in main if r["phase"] == "baseline closed"), None)
    summary = {"server": main_label}
    print("\n" + "=" * 100)
    print(
        f"Summary ({facts['cpu']}, {facts['cores']} cores, {facts['ram_gib']} GiB, PostgreSQL {facts['postgresql']};"
        f" gunicorn {main_label}, {args.concurrency} clients)"
    )
    if hb and base:
        ratio = hb["per_second"] / base["per_second"] if base["per_second"] else 0.0
        summary.update(
            heartbeat_per_second=hb["per_second"],
            baseline_per_second=base["per_second"],
            ratio=ratio,
            baseline_endpoint=base["endpoint"],
        )
        print(
            f"  heartbeats/s (closed loop)        {hb['per_second']:8.0f}   p50 {hb['p50_ms']:.1f} ms  "
            f"p99 {hb['p99_ms']:.1f} ms  errors {hb['errors']}"
        )
        print(
            f"  {base['endpoint'] + ' /s':33} {base['per_second']:8.0f}   p50 {base['p50_ms']:.1f} ms  "
            f"p99 {base['p99_ms']:.1f} ms  errors {base['errors']}"
        )
        verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
        print(f"  heartbeat / baseline throughput   {ratio:8.2f}   target >= {TARGET_RATIO:.2f}   {verdict}")
        summary["ratio_pass"] = verdict == "PASS"
        print(
            f"  participants at saturation        {hb['per_second'] * HEARTBEAT_INTERVAL:8,.0f}   "
            f"(closed-loop heartbeats/s x {HEARTBEAT_INTERVAL} s; latency is unbounded there)"
        )
    if open_row:
        ok = open_row["p99_ms"] < TARGET_P99_MS and open_row["errors"] == 0
        verdict = "PASS" if ok else "FAIL"
        if args.target_participants != TARGET_PARTICIPANTS:
            verdict = f"(the issue's target is at {TARGET_PARTICIPANTS:,} participants)"
        summary.update(
            open_rate=target_rate,
            open_p50_ms=open_row["p50_ms"],
            open_p99_ms=open_row["p99_ms"],
            open_errors=open_row["errors"],
            p99_pass=ok,
        )
        print(
            f"  at {target_rate:.0f} heartbeats/s ({args.target_participants:,} participants): "
            f"p50 {open_row['p50_ms']:.1f} ms  p99 {open_row['p99_ms']:.1f} ms  errors {open_row['errors']}  "
            f"target p99 < {TARGET_P99_MS:.0f} ms, no errors   {verdict}"
        )
    steps = [r for r in main if r["phase"].startswith("capacity") or r["phase"] == "heartbeat open"]
    good = [
        r
        for r in steps
        if r["p99_ms"] < TARGET_P99_MS and r["errors"] == 0 and r["per_second"] >= 0.97 * (r["target_rate"] or 0)
    ]
    if good:
        best = max(good, key=lambda r: r["target_rate"])
        carried = best["target_rate"] * HEARTBEAT_INTERVAL
        summary.update(carried_participants=carried, carried_rate=best["target_rate"], carried_p99_ms=best["p99_ms"])
        print(
            f"  one machine carries               {carried:8,.0f}   participants at a {HEARTBEAT_INTERVAL} s "
            f"interval (highest rate tried with p99 < {TARGET_P99_MS:.0f} ms: {best['target_rate']:.0f}/s, "
            f"p99 {best['p99_ms']:.1f} ms)"
        )
    others = {r["server"]: r for r in rows if r["phase"] == "heartbeat closed"}
    if len(others) > 1:
        bases = {r["server"]: r for r in rows if r["phase"] == "baseline closed"}
        print("  server configurations (closed loop):")
        for label, r in others.items():
            b = bases.get(label)
            ratio = f"{r['per_second'] / b['per_second']:.2f}" if b and b["per_second"] else "-"
            print(
                f"    {label:13} heartbeats/s {r['per_second']:6.0f} (p99 {r['p99_ms']:5.1f} ms)   "
                f"baseline/s {b['per_second'] if b else 0:6.0f}   ratio {ratio}"
            )
    disturbed = [r for r in rows if r["other_cores"] > 0.15]
    if disturbed:
        print(
            f"  WARNING: other processes used more than 0.15 cores during {len(disturbed)} of {len(rows)} phases "
            f"(up to {max(r['other_cores'] for r in disturbed):.2f} cores): those figures understate this machine."
        )
    if read_side:
        for row in read_side["suggestions"]:
            if row["signals"] in (1_000, 10_000) and row["pattern"] == "everyday":
                print(
                    f"  suggestion from {row['signals']:>6,} signals       {row['service_ms']:8.2f} ms "
                    f"({row['service_ratio']:.1f}x the 100-signal time; worst pattern: "
                    f"{next(r['service_ms'] for r in read_side['suggestions'] if r['pattern'] == 'worst' and r['signals'] == row['signals']):.1f} ms)"
                )
        for row in read_side["dashboard"]:
            print(
                f"  dashboard with {row['sessions']:>4} sessions          {row['queries']:8} queries, "
                f"{row['ms']:.0f} ms"
            )
    return summary


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Ctrl-C and kill both unwind through the finally blocks that stop the server.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    server_env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    server_env["CACHE_URL"] = args.cache_url or "locmemcache://"
    db_url = f"{args.pg}/{args.db_name}"
    facts = machine_facts(args.pg)
    print(
        f"Machine: {facts['cpu']}, {facts['cores']} cores, {facts['ram_gib']} GiB RAM; PostgreSQL "
        f"{facts['postgresql']}; Python {facts['python']}, Django {facts['django']}, gunicorn {facts['gunicorn']}"
    )

    idle = background_load()
    if idle > 0.15:
        print(
            f"WARNING: {idle:.2f} of {facts['cores']} cores are busy before the run starts (other work on this "
            "machine): every figure below will be lower than this machine can do. The 'others' column shows "
            "how much each phase lost."
        )
    t0 = time.perf_counter()
    recreate_database(args.pg, args.db_name)
    setup_django(db_url)
    migrate()
    if args.sql_after_migrate:
        from django.db import connection

        with connection.cursor() as cursor:
            for statement in args.sql_after_migrate:
                print(f"Experiment: {statement}")
                cursor.execute(statement)
    participants = [] if args.only_read_side else populate(args.participants)
    read_people = None if args.skip_read_side else populate_read_side(args.dashboard_sessions)
    from django.db import connections

    connections.close_all()
    print(
        f"Database {args.db_name}: migrated, {len(participants):,} participants "
        f"({len(participants) // 2:,} sessions with whiteboards and tokens) in {time.perf_counter() - t0:.1f} s"
    )

    rows: list[dict] = []
    if participants:
        random.Random(5).shuffle(participants)  # tutor and student of one whiteboard do not beat back to back
        for index, p in enumerate(participants):
            p["index"] = index
        with tempfile.TemporaryDirectory(prefix="heartbeat-bench-") as log_dir:
            print(
                f"\nLoad: {len(participants):,} participants, closed loop with {args.concurrency} clients for "
                f"{args.closed_seconds:.0f} s, open loop for {args.open_seconds:.0f} s; CPU in cores "
                f"(this machine has {facts['cores']})"
            )
            print_row_header()
            for config in [args.server, *[c for c in args.compare if c != args.server]]:
                try:
                    rows += measure_server(
                        config,
                        args=args,
                        participants=participants,
                        db_url=db_url,
                        env=server_env,
                        log_dir=Path(log_dir),
                        full=config == args.server,
                    )
                except RuntimeError as exc:
                    print(f"  {config.label}: {exc}")
                    log = Path(log_dir) / f"gunicorn-{config.worker_class}-{config.workers}x{config.threads}.log"
                    if log.exists():
                        print("  " + "\n  ".join(log.read_text().splitlines()[-20:]))

    writes = write_side(args.pg, args.db_name) if rows else []
    read_side = None
    if read_people:
        read_side = {
            "suggestions": suggestion_bench.suggestion_figures(
                tutor=read_people["suggestion_tutor"], student=read_people["suggestion_student"]
            ),
            "dashboard": suggestion_bench.dashboard_figures(tutors=read_people["dashboard_tutors"]),
        }
        suggestion_bench.print_suggestions(read_side["suggestions"])
        suggestion_bench.print_dashboard(read_side["dashboard"])

    summary = report(rows, args, read_side, facts)
    print(f"\nTotal time {time.perf_counter() - t0:.0f} s.")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": facts,
                    "args": {
                        k: (asdict(v) if isinstance(v, ServerConfig) else v)
                        for k, v in vars(args).items()
                        if k not in ("json", "compare")
                    },
                    "compare": [asdict(c) for c in args.compare],
                    "phases": rows,
                    "read_side": read_side,
                    "write_side": writes,
                    "summary": summary,
                },
                indent=2,
                default=str,
            )
        )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\nInterrupted; the server was stopped.", file=sys.stderr)
        sys.exit(130)
