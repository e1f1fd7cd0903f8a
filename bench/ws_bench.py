"""Benchmark: WebSocket participants one machine holds, against the HTTP heartbeat and a bare echo floor.

    .venv/bin/python bench/ws_bench.py                       # 2,000 participants, ~6 minutes
    .venv/bin/python bench/ws_bench.py --participants 10000 --load-processes 2 --hold-seconds 60
    .venv/bin/python bench/ws_bench.py --help

A script, not a test: it prints figures and marks the targets of issue 13 PASS or FAIL, and exits 0
either way. Needs PostgreSQL at 127.0.0.1:5432 (user postgres) and Redis at 127.0.0.1:6379 (database
6 by default). Everything runs on 127.0.0.1 and every phase is bounded in time.

One run, in order:
1. Database `attendance_ws_bench` (dropped and made again): participants in pairs, each pair a running
   tutoring session with a whiteboard, an API token per person.
2. For each server application, the *same* uvicorn command (workers, pub/sub Redis layer): the real one
   (`config.asgi`) and the framework floor (`bench/echo_asgi.py`: a bare Channels consumer, same
   protocol, no database). Load comes from separate processes (`--load-processes`; one process may hold
   at most 20,000 open files here): every participant opens its socket (token auth), then for
   `--hold-seconds` pings every 15 s (the production interval, phases spread). In the first half
   nothing else happens (server CPU per socket is measured there); in the second, `--push-rate` times
   a second a student toggles its tab's visibility and the tutor of that whiteboard, on whichever
   worker, must hear the pushed change (push latency: toggle sent -> pushed message received).
   Measured: sockets held, ping round trip, push latency, unexpected closes (false disconnects), server
   CPU and memory per socket, database rows written per participant-minute.
3. Reconnect storm (real application only): the server is killed (-9) and started again; every
   participant reconnects with the tracker's jittered backoff, naming its previous connection (resume;
   --no-resume: not). Target: all back within the 45 s visible timeout, and no false absence (a
   participant whose presence shows a break). --storm-echo: the echo floor's own storm, for its pace.
4. --ramp: capacity search on one presence server (sockets opened step by step; the most held with
   ping p99 < 100 ms and no unexpected close), against
5. the HTTP figure of the same run: bench/heartbeat_capacity.py, short phases, on its own database.

Long because: one script per question (the bench-scripts contract): its load worker (a separate
process), the hold, the storm, the ramp and the report share the server handling and stay together.
"""

import argparse
import asyncio
import collections
import gc
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PING_INTERVAL = 15
TIMEOUT_VISIBLE = 45


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--ws", default="websockets", help="uvicorn --ws (production: websockets)")
    parser.add_argument(
        "--deflate", action="store_true", help="uvicorn --ws-per-message-deflate true (production: false)"
    )
    parser.add_argument("--load-processes", type=int, default=2)
    parser.add_argument("--hold-seconds", type=float, default=60)
    parser.add_argument(
        "--push-rate", type=float, default=10, help="visibility toggles (pushes) per second, second half of the hold"
    )
    parser.add_argument("--open-concurrency", type=int, default=200, help="handshakes in flight per load process")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db-name", default="attendance_ws_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    parser.add_argument("--no-storm", action="store_true")
    parser.add_argument(
        "--no-resume", action="store_true", help="reconnecting clients do not name their previous connection"
    )
    parser.add_argument(
        "--storm-echo", action="store_true", help="the reconnect storm on the echo floor too (the framework's own pace)"
    )
    parser.add_argument("--no-echo", action="store_true")
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP heartbeat bench")
    parser.add_argument("--no-hold", action="store_true", help="skip the hold phases (echo, presence, storm)")
    parser.add_argument(
        "--ramp",
        default="",
        help="capacity search: participant counts (e.g. 8000,12000,16000,20000,24000), opened step by step on one "
        "presence server; each step held --step-seconds; the most held with ping p99 < 100 ms and no close wins",
    )
    parser.add_argument("--step-seconds", type=float, default=30, help="hold of each --ramp step (two ping intervals)")
    parser.add_argument("--ramp-echo", action="store_true", help="run the --ramp on the echo floor too")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--load-worker", nargs=2, metavar=("SPEC", "OUT"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# --- database -------------------------------------------------------------------------------------------


def prepare_database(args, *, participants: int) -> list[dict]:
    subprocess.run(["dropdb", "--if-exists", "-h", "127.0.0.1", "-U", "postgres", args.db_name], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", args.db_name], check=True)
    env = {**os.environ, "DATABASE_URL": f"{args.pg}/{args.db_name}", "PYTHONPATH": str(ROOT)}
    subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from accounts.models import ApiToken, hash_token_key
    from attendance.models import TutoringSession
    from whiteboard.models import WhiteboardSession

    User = get_user_model()
    pairs = participants // 2
    users = User.objects.bulk_create(
        [User(username=f"wsb{i}", password="!") for i in range(pairs * 2)], batch_size=2000
    )
    keys = [f"att_wsb_{uuid.uuid4().hex}" for _ in users]
    ApiToken.objects.bulk_create(
        [
            ApiToken(user=u, name="bench", prefix=k[:12], key_hash=hash_token_key(k))
            for u, k in zip(users, keys, strict=True)
        ],
        batch_size=2000,
    )
    boards = WhiteboardSession.objects.bulk_create([WhiteboardSession() for _ in range(pairs)], batch_size=2000)
    now = timezone.now()
    TutoringSession.objects.bulk_create(
        [
            TutoringSession(
                tutor=users[2 * i],
                student=users[2 * i + 1],
                whiteboard=boards[i],
                title="bench",
                scheduled_start=now - timedelta(minutes=10),
                scheduled_end=now + timedelta(hours=3),
            )
            for i in range(pairs)
        ],
        batch_size=2000,
    )
    return [{"whiteboard": boards[i].pk, "tutor": keys[2 * i], "student": keys[2 * i + 1]} for i in range(pairs)]


def _psql_number(args, sql: str) -> int:
    """One number from the bench database, read by psql (a process of its own, outside the bench's)."""
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", args.db_name, "-tAc", sql],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip() or 0)


def rows_written(args) -> int:
    return _psql_number(
        args,
        "SELECT coalesce(sum(n_tup_upd + n_tup_ins), 0) FROM pg_stat_user_tables "
        "WHERE relname IN ('whiteboard_connections', 'whiteboard_sessions')",
    )


def false_absences(args) -> int:
    """Participants whose presence shows more than one span: a break the storm must not cause."""
    return _psql_number(
        args,
        "SELECT count(*) FILTER (WHERE jsonb_array_length(tutor_presence_spans::jsonb) > 1)"
        " + count(*) FILTER (WHERE jsonb_array_length(student_presence_spans::jsonb) > 1) FROM whiteboard_sessions",
    )


# --- server -----------------------------------------------------------------------------------------------


class Server:
    def __init__(self, app: str, args, log: Path):
        from tests.live_server import free_port

        self.app, self.args, self.log = app, args, log
        self.port = free_port()
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": f"{args.pg}/{args.db_name}",
            "REDIS_URL": args.redis_url,
            "CHANNELS_PREFIX": f"wsb{uuid.uuid4().hex[:6]}",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1",
            "CONN_MAX_AGE": "600",
        }
        self.process = None

    def start(self, timeout=60):
        import http.client

        log = open(self.log, "ab")  # noqa: SIM115 - inherited by the server, which keeps it open
        self.process = subprocess.Popen(
            [
                # `-m`, not the uvicorn script: a copied virtualenv's scripts name another interpreter.
                str(PY),
                "-m",
                "uvicorn",
                self.app,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.args.workers),
                # The production command's (README); uvicorn 0.55's "auto" is its sans-I/O implementation.
                "--ws",
                self.args.ws,
                "--ws-per-message-deflate",
                "true" if self.args.deflate else "false",
                "--lifespan",
                "off",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:  # e.g. the port still held: fail now, not at the timeout
                raise RuntimeError(f"{self.app} exited at start; see {self.log}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                if len(self.pids()) >= self.args.workers + 1:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.app} did not start; see {self.log}")

    def pids(self) -> list[int]:
        pgid = self.process.pid
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.getpgid(int(entry)) == pgid:
                        found.append(int(entry))
                except OSError:
                    pass
        return found

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except OSError:
                pass
        return total

    def rss_bytes(self) -> int:
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            except OSError:
                pass
        return total

    def kill(self):
        if self.process and self.process.poll() is None:
            pids = self.pids()
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            # The workers hold the listening socket too: wait until every one is gone (they are not
            # our children, so not reaped by the wait above), else the restart finds the port taken.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
                time.sleep(0.05)

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


# --- load (separate processes) ----------------------------------------------------------------------------


async def load_worker(spec: dict) -> dict:
    import websockets

    url, pairs = spec["url"], spec["pairs"]
    t_hold_start, t_hold_end, storm = spec["hold_start"], spec["hold_until"], spec["storm"]
    stats = {
        "connect_ms": [],
        "ping_ms": [],
        "push_ms": [],
        "opened": 0,
        "unexpected_closes": 0,
        "back_at": [],
        "storm_attempts": [],  # attempts each participant took to be back (storm)
        "storm_last_attempt_at": [],  # when its successful attempt began
        "storm_opened_at": [],  # when its handshake was done (then: auth, the server's database work, welcome)
        "storm_failures": {},  # failed attempts in the storm, by kind
        "storm_failed": 0,
        "open_times": [],  # when each socket was welcomed (the ramp counts sockets held at a moment)
        "close_times": [],  # when each unexpected close happened
        "pings": [],  # (sent at, round trip ms), for the ramp's steps
    }
    pending_push: dict[int, tuple[float, bool]] = {}
    gate = asyncio.Semaphore(spec["open_concurrency"])
    sockets: dict[tuple[int, str], object] = {}
    phase = {"name": "hold"}

    async def participant(board: int, role: str, token: str, open_at: float):
        await asyncio.sleep(max(0, open_at - time.time()))
        attempt = 0
        resume = {}
        while True:
            try:
                attempt_at = time.time()
                async with gate:
                    started = time.monotonic()
                    ws = await websockets.connect(
                        f"{url}/ws/whiteboard/sessions/{board}/", open_timeout=30, ping_interval=None, max_queue=None
                    )
                    opened_at = time.time()  # the handshake is done: the server has the socket
                    auth = {"type": "auth", "token": token}
                    if resume.get("id") and spec.get("resume", True):
                        auth["resume"] = resume["id"]  # as the tracker does: the connection it had
                    await ws.send(json.dumps(auth))
                    while (welcome := json.loads(await asyncio.wait_for(ws.recv(), 30))).get("type") != "welcome":
                        pass
                    resume["id"] = welcome.get("connection_id")
                if phase["name"] == "hold":
                    stats["connect_ms"].append((time.monotonic() - started) * 1000)
                    stats["opened"] += 1
                    stats["open_times"].append(time.time())
                    if stats["opened"] == 2 * len(pairs) and spec.get("opened_marker"):
                        Path(spec["opened_marker"]).write_text(str(time.time()))
                else:
                    stats["back_at"].append(time.time())
                    stats["storm_attempts"].append(attempt + 1)
                    stats["storm_last_attempt_at"].append(attempt_at)
                    stats["storm_opened_at"].append(opened_at)
                sockets[(board, role)] = ws
                attempt = 0
                state = {"sent": None}
                pinger = asyncio.create_task(pings(ws, state))
                try:
                    async for raw in ws:
                        message = json.loads(raw)
                        holding = t_hold_start <= time.time() <= t_hold_end
                        if message["type"] == "pong" and state["sent"]:
                            if holding:
                                stats["ping_ms"].append((time.monotonic() - state["sent"]) * 1000)
                            stats["pings"].append((state["wall"], (time.monotonic() - state["sent"]) * 1000))
                            state["sent"] = None
                        elif message["type"] == "presence" and role == "tutor" and board in pending_push:
                            sent, hidden = pending_push[board]
                            if message["presence"]["student"]["hidden"] == hidden:
                                if holding:
                                    stats["push_ms"].append((time.monotonic() - sent) * 1000)
                                del pending_push[board]
                finally:
                    pinger.cancel()
                    sockets.pop((board, role), None)
                if phase["name"] == "hold":
                    stats["unexpected_closes"] += 1
                    stats["close_times"].append(time.time())
            except (TimeoutError, OSError, websockets.WebSocketException) as error:
                if phase["name"] == "storm":
                    kind = type(error).__name__
                    stats["storm_failures"][kind] = stats["storm_failures"].get(kind, 0) + 1
                if phase["name"] == "hold" and attempt == 0:
                    stats["unexpected_closes"] += 1
                    stats["close_times"].append(time.time())
            if phase["name"] == "done":
                return
            attempt += 1
            # The tracker's own backoff (static/whiteboard/attendance-tracker.js): jittered, doubling from 1 s
            # (half to all of it), at most 30 s; a hammering client would only starve the restarting server.
            ceiling = min(30.0, 2.0 ** (attempt - 1))
            await asyncio.sleep(random.uniform(ceiling / 2, ceiling))

    async def pings(ws, state):
        await asyncio.sleep(random.uniform(0, PING_INTERVAL))  # phases spread, as real tabs' timers are
        while True:
            state["sent"], state["wall"] = time.monotonic(), time.time()
            await ws.send(json.dumps({"type": "ping"}))
            await asyncio.sleep(PING_INTERVAL)

    async def toggler():
        hidden = {}
        await asyncio.sleep(max(0, spec["hold_mid"] - time.time()))  # the first half measures CPU without pushes
        while time.time() < t_hold_end:
            await asyncio.sleep(random.expovariate(spec["push_rate"]) if spec["push_rate"] > 0 else 3600)
            board = random.choice(pairs)["whiteboard"]
            ws, tutor = sockets.get((board, "student")), sockets.get((board, "tutor"))
            if ws is None or tutor is None or board in pending_push:
                continue
            hidden[board] = not hidden.get(board, False)
            pending_push[board] = (time.monotonic(), hidden[board])
            if t_hold_start <= time.time():
                stats["toggles"] = stats.get("toggles", 0) + 1
            await ws.send(json.dumps({"type": "visibility", "visibility": "hidden" if hidden[board] else "visible"}))

    tasks = [
        asyncio.create_task(participant(p["whiteboard"], role, p[role], p.get("open_at", 0)))
        for p in pairs
        for role in ("tutor", "student")
    ]
    tasks.append(asyncio.create_task(toggler()))
    await asyncio.sleep(max(0, t_hold_end - time.time()))
    stats["held_at_end"] = len(sockets)
    stats["unanswered_pushes"] = len(pending_push)
    if storm:
        phase["name"] = "storm"  # the parent kills the server now; every socket reconnects at once
        deadline = time.time() + spec["storm_seconds"]
        while time.time() < deadline and len(stats["back_at"]) < 2 * len(pairs):
            await asyncio.sleep(0.2)
        stats["storm_failed"] = 2 * len(pairs) - len(stats["back_at"])
    else:
        # Hold on past the parent's last row count (11 s after the hold): the clean closes below write
        # their disconnects, which are not liveness and must not count as the hold's writes.
        await asyncio.sleep(max(0, t_hold_end + 15 - time.time()))
    phase["name"] = "done"
    for ws in list(sockets.values()):
        await ws.close(code=1000)
    for task in tasks:
        task.cancel()
    return stats


def percentile(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def run_phase(app: str, label: str, boards: list[dict], args, workdir: Path, *, storm: bool) -> dict:
    server = Server(app, args, workdir / f"{label}.log").start()
    idle_rss = server.rss_bytes()
    open_allowance = 10 + len(boards) * 2 / 100  # seconds to open every socket before the hold starts
    hold_start = time.time() + open_allowance
    hold_until = hold_start + args.hold_seconds
    chunks = [boards[i :: args.load_processes] for i in range(args.load_processes)]
    procs = []
    for index, chunk in enumerate(chunks):
        spec = {
            "url": f"ws://127.0.0.1:{server.port}",
            "pairs": chunk,
            "hold_start": hold_start,
            "hold_mid": hold_start + args.hold_seconds / 2,
            "hold_until": hold_until,
            "storm": storm,
            "storm_seconds": 90,
            "resume": not args.no_resume,
            "push_rate": args.push_rate / args.load_processes,
            "open_concurrency": args.open_concurrency,
            "opened_marker": str(workdir / f"{label}-{index}.opened"),
        }
        spec_path, out_path = workdir / f"{label}-{index}.spec.json", workdir / f"{label}-{index}.out.json"
        spec_path.write_text(json.dumps(spec))
        procs.append(
            (subprocess.Popen([PY, __file__, "--load-worker", str(spec_path), str(out_path)], cwd=ROOT), out_path)
        )
    time.sleep(max(0, hold_start - time.time()))
    # Measure from when every socket is open (a loaded machine may take longer than the allowance): the
    # opening's CPU and rows are not the hold's.
    quiet_end = hold_start + args.hold_seconds / 2
    markers = [workdir / f"{label}-{index}.opened" for index in range(len(chunks))]
    while not all(m.exists() for m in markers) and time.time() < quiet_end - 15:
        time.sleep(0.5)
    opened_late = time.time() - hold_start
    cpu_from = time.time()
    cpu_start, rss_held = server.cpu_seconds(), server.rss_bytes()
    # PostgreSQL's backends publish their row counts up to 10 s late (PGSTAT_IDLE_INTERVAL): wait that long,
    # so the opening's writes are not counted as the hold's; both readings lag alike, so the rate is
    # rows between the readings over the time between them.
    time.sleep(11)
    written_before, written_from = rows_written(args), time.time()
    time.sleep(max(0, quiet_end - time.time()))
    cpu_quiet = server.cpu_seconds() - cpu_start  # pings and liveness only, no pushes
    quiet_seconds = time.time() - cpu_from
    time.sleep(max(0, hold_until - time.time()))
    cpu_end = server.cpu_seconds()
    time.sleep(11)  # the hold's last writes reach pg_stat (see above)
    written, written_until = rows_written(args) - written_before, time.time()
    result = {
        "label": label,
        "cpu_cores": (cpu_end - cpu_start) / (hold_until - cpu_from),
        "rss_idle": idle_rss,
        "rss_held": rss_held,
        "opened_after_hold_start_s": opened_late,
        "load_average_hold": os.getloadavg()[0],
    }
    if storm:
        killed_at = time.time()
        server.kill()
        for attempt in range(40):  # the killed server's 10,000 sockets may hold the port for a moment
            try:
                server.start(timeout=60)
                break
            except RuntimeError:
                if attempt == 39:
                    raise
                time.sleep(0.2)
        result["restarted_in"] = time.time() - killed_at
        result["killed_at"] = killed_at
    for proc, _ in procs:
        try:
            proc.wait(timeout=args.hold_seconds + 200)
        except subprocess.TimeoutExpired:
            proc.kill()
    server.stop()
    merged = {
        "connect_ms": [],
        "ping_ms": [],
        "push_ms": [],
        "back_at": [],
        "storm_attempts": [],
        "storm_last_attempt_at": [],
        "storm_opened_at": [],
    }
    storm_failures: dict[str, int] = {}
    totals = {
        "opened": 0,
        "unexpected_closes": 0,
        "held_at_end": 0,
        "storm_failed": 0,
        "unanswered_pushes": 0,
        "toggles": 0,
    }
    for _, out_path in procs:
        data = json.loads(out_path.read_text()) if out_path.exists() else {}
        for key in merged:
            merged[key] += data.get(key, [])
        for kind, count in data.get("storm_failures", {}).items():
            storm_failures[kind] = storm_failures.get(kind, 0) + count
        for key in totals:
            totals[key] += data.get(key, 0)
    participants = len(boards) * 2
    result.update(totals)
    result.update(
        participants=participants,
        connect_p99_ms=percentile(merged["connect_ms"], 0.99),
        ping_p50_ms=percentile(merged["ping_ms"], 0.50),
        ping_p99_ms=percentile(merged["ping_ms"], 0.99),
        push_p50_ms=percentile(merged["push_ms"], 0.50),
        push_p99_ms=percentile(merged["push_ms"], 0.99),
        pushes=len(merged["push_ms"]),
        cpu_us_per_socket_second=cpu_quiet / max(1, totals["held_at_end"]) / quiet_seconds * 1e6,
        kb_per_socket=(rss_held - idle_rss) / max(1, totals["held_at_end"]) / 1024,
        rows_per_participant_minute=written / participants / ((written_until - written_from) / 60),
        # A visibility change writes its connection row and its whiteboard row (the locked path), at either door.
        liveness_rows_per_participant_minute=max(0, written - 2 * totals["toggles"])
        / participants
        / ((written_until - written_from) / 60),
    )
    if storm and merged["back_at"]:
        result["storm_all_back_s"] = max(merged["back_at"]) - result["killed_at"]
        result["storm_p50_back_s"] = statistics.median(merged["back_at"]) - result["killed_at"]
        # Continuous presence needs the return within 45 s of the last signal written: 45 - 15 (ping) - 2
        # (batch) = 28 s after the death at worst.
        result["storm_back_after_28s"] = sum(1 for at in merged["back_at"] if at - result["killed_at"] > 28)
        result["load_average_after_storm"] = os.getloadavg()[0]
        result["storm_failures"] = storm_failures
        result["storm_attempts_histogram"] = dict(sorted(collections.Counter(merged["storm_attempts"]).items()))
        # How long the successful attempts took (started -> welcomed), and when they started.
        took = [b - a for a, b in zip(merged["storm_last_attempt_at"], merged["back_at"], strict=True)]
        result["storm_attempt_p50_s"] = percentile(took, 0.5)
        result["storm_attempt_p99_s"] = percentile(took, 0.99)
        # Of which: waiting for the handshake (the load process's gate, TCP, the upgrade), then after it
        # (the auth message, the server's database work, the welcome).
        handshake = [o - a for a, o in zip(merged["storm_last_attempt_at"], merged["storm_opened_at"], strict=True)]
        after = [b - o for o, b in zip(merged["storm_opened_at"], merged["back_at"], strict=True)]
        result["storm_handshake_p50_s"] = percentile(handshake, 0.5)
        result["storm_handshake_p99_s"] = percentile(handshake, 0.99)
        result["storm_welcome_p50_s"] = percentile(after, 0.5)
        result["storm_welcome_p99_s"] = percentile(after, 0.99)
        started = [a - result["killed_at"] for a in merged["storm_last_attempt_at"]]
        result["storm_started_after_28s"] = sum(1 for a in started if a > 28)
        back = sorted(at - result["killed_at"] for at in merged["back_at"])
        result["storm_back_by_5s"] = {f"{t}s": sum(1 for b in back if b <= t) for t in range(5, 50, 5)}
    return result


RAMP_P99_MS = 100.0  # the HTTP capacity's bound (bench/heartbeat_capacity.py), for a like-for-like figure


def run_ramp(app: str, label: str, boards: list[dict], args, workdir: Path) -> dict:
    """Capacity search on one server: open sockets step by step (--ramp counts), hold each step --step-seconds
    with every socket pinging every 15 s; per step: sockets held, ping p99, unexpected closes, CPU."""
    counts = sorted({int(c) // 2 for c in args.ramp.split(",") if c})
    if counts[-1] > len(boards):
        raise SystemExit(f"--ramp up to {counts[-1] * 2} needs --participants at least that")
    server = Server(app, args, workdir / f"{label}.log").start()
    idle_rss = server.rss_bytes()
    steps, t, previous = [], time.time() + 5, 0
    for pairs in counts:
        opening = (pairs - previous) * 2
        window_start = t + 5 + opening / 100  # time to open this step's sockets (~100/s, loaded box)
        steps.append({"pairs": pairs, "open_at": t, "from": window_start, "until": window_start + args.step_seconds})
        for board in boards[previous:pairs]:
            board["open_at"] = t
        previous, t = pairs, window_start + args.step_seconds
    hold_until = steps[-1]["until"]
    chunks = [boards[: counts[-1]][i :: args.load_processes] for i in range(args.load_processes)]
    procs = []
    for index, chunk in enumerate(chunks):
        spec = {
            "url": f"ws://127.0.0.1:{server.port}",
            "pairs": chunk,
            "hold_start": steps[0]["from"],
            "hold_mid": hold_until + 3600,  # no pushes: the ramp measures holding and pinging
            "hold_until": hold_until,
            "storm": False,
            "storm_seconds": 0,
            "push_rate": 0,
            "open_concurrency": args.open_concurrency,
        }
        spec_path, out_path = workdir / f"{label}-{index}.spec.json", workdir / f"{label}-{index}.out.json"
        spec_path.write_text(json.dumps(spec))
        procs.append(
            (subprocess.Popen([PY, __file__, "--load-worker", str(spec_path), str(out_path)], cwd=ROOT), out_path)
        )
    for step in steps:
        time.sleep(max(0, step["from"] - time.time()))
        cpu, load1 = server.cpu_seconds(), os.getloadavg()[0]
        step["rss"] = server.rss_bytes()
        time.sleep(max(0, step["until"] - time.time()))
        step["cpu_cores"] = (server.cpu_seconds() - cpu) / args.step_seconds
        step["load_average"] = max(load1, os.getloadavg()[0])
    for proc, _ in procs:
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
    server.stop()
    opens, closes, pings = [], [], []
    for _, out_path in procs:
        data = json.loads(out_path.read_text()) if out_path.exists() else {}
        opens += data.get("open_times", [])
        closes += data.get("close_times", [])
        pings += data.get("pings", [])
    best = None
    print(f"\nRamp, {label}: sockets held per step, each pinging every {PING_INTERVAL} s")
    print(
        f"  {'asked':>8} {'held':>8} {'ping p50':>9} {'ping p99':>9} {'closes':>7} {'CPU':>6} {'µs/s/sock':>10} {'kB/sock':>8} {'load':>5}"
    )
    for step in steps:
        held = sum(1 for at in opens if at <= step["from"]) - sum(1 for at in closes if at <= step["from"])
        window = [ms for at, ms in pings if step["from"] <= at < step["until"]]
        step.update(
            asked=step["pairs"] * 2,
            held=held,
            ping_p50_ms=percentile(window, 0.5),
            ping_p99_ms=percentile(window, 0.99),
            pings=len(window),
            closes=sum(1 for at in closes if step["from"] <= at < step["until"]),
            cpu_us_per_socket_second=step["cpu_cores"] / max(1, held) * 1e6,
            kb_per_socket=(step["rss"] - idle_rss) / max(1, held) / 1024,
        )
        print(
            f"  {step['asked']:8,} {held:8,} {step['ping_p50_ms']:8.1f}ms {step['ping_p99_ms']:8.1f}ms {step['closes']:7} "
            f"{step['cpu_cores']:6.2f} {step['cpu_us_per_socket_second']:10.1f} {step['kb_per_socket']:8.1f} "
            f"{step['load_average']:5.1f}"
        )
        if step["ping_p99_ms"] < RAMP_P99_MS and step["closes"] == 0 and held >= 0.99 * step["asked"]:
            best = step
    return {"label": label, "steps": steps, "max_held": best["held"] if best else 0}


def http_figure(args, workdir: Path) -> dict:
    """The HTTP heartbeat capacity of the same run: bench/heartbeat_capacity.py (gunicorn sync x 2, p99 < 100 ms)."""
    out = workdir / "http.json"
    participants = 3000
    command = [
        PY,
        str(ROOT / "bench" / "heartbeat_capacity.py"),
        "--participants",
        str(participants),
        "--target-participants",
        str(participants),
        "--open-seconds",
        "12",
        "--closed-seconds",
        "8",
        "--capacity-fractions",
        "0.6,0.75,0.9",
        "--capacity-seconds",
        "10",
        "--db-name",
        f"{args.db_name}_http",
        "--cache-url",
        args.redis_url,
        "--json",
        str(out),
    ]
    subprocess.run(command, cwd=ROOT, timeout=900, check=False, stdout=subprocess.DEVNULL)
    summary = json.loads(out.read_text()).get("summary", {}) if out.exists() else {}
    return summary


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.load_worker:
        # The load holds thousands of sockets too: the same collector tuning as the servers (config/asgi.py),
        # so the clients' full collections do not show up as the server's ping latency.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50000, 20, 100)
        spec = json.loads(Path(args.load_worker[0]).read_text())
        Path(args.load_worker[1]).write_text(json.dumps(asyncio.run(load_worker(spec))))
        return 0
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # DEBUG off requires one (issue 14)
    workdir = Path("/tmp") / f"ws_bench_{os.getpid()}"
    workdir.mkdir()
    print(
        f"ws_bench: {args.participants:,} participants, uvicorn --workers {args.workers}, "
        f"{args.load_processes} load processes, hold {args.hold_seconds:.0f} s, {args.push_rate}/s pushes; logs in {workdir}"
    )
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    ramp_max = max((int(c) for c in args.ramp.split(",") if c), default=0)
    all_boards = prepare_database(args, participants=max(args.participants, ramp_max))
    boards = all_boards[: args.participants // 2]
    rows, ramps = [], []
    if not args.no_hold:
        if not args.no_echo:
            rows.append(
                run_phase("bench.echo_asgi:application", "echo floor", boards, args, workdir, storm=args.storm_echo)
            )
            print(f"  (echo floor done; load average {os.getloadavg()[0]:.1f})")
        rows.append(run_phase("config.asgi:application", "presence", boards, args, workdir, storm=not args.no_storm))
        rows[-1]["false_absences"] = false_absences(args)
        print(f"  (presence done; load average {os.getloadavg()[0]:.1f})")
    if args.ramp:
        if args.ramp_echo:
            ramps.append(run_ramp("bench.echo_asgi:application", "echo floor ramp", all_boards, args, workdir))
        ramps.append(run_ramp("config.asgi:application", "presence ramp", all_boards, args, workdir))
    http = {} if args.no_http else http_figure(args, workdir)
    if http:
        print(f"  (HTTP capacity done; load average {os.getloadavg()[0]:.1f})")
    carried = http.get("carried_participants") or 0
    if ramps:
        held = ramps[-1]["max_held"]
        print("\nCapacity (ramp): most sockets held with ping p99 < 100 ms and no unexpected close")
        for ramp in ramps:
            print(f"  {ramp['label']:28} {ramp['max_held']:,}")
        if carried:
            print(
                f"  vs HTTP carried (same run)   {held:,} vs {carried:,.0f} = {held / carried:.2f}x   target >= 2x   "
                f"{'PASS' if held >= 2 * carried else 'FAIL'}"
                + (
                    "   (the ramp's last step held: raise --ramp to find the limit)"
                    if held == ramps[-1]["steps"][-1]["held"]
                    else ""
                )
            )
    if args.json and not rows:
        args.json.write_text(json.dumps({"ramps": ramps, "http": http}, indent=2, default=str))
    if not rows:
        return 0
    presence = rows[-1]

    print(f"\n{'':28}" + "".join(f"{r['label']:>16}" for r in rows))
    for key, fmt in [
        ("participants", "{:,.0f}"),
        ("held_at_end", "{:,.0f}"),
        ("unexpected_closes", "{:,.0f}"),
        ("connect_p99_ms", "{:.0f}"),
        ("ping_p50_ms", "{:.1f}"),
        ("ping_p99_ms", "{:.1f}"),
        ("pushes", "{:,.0f}"),
        ("push_p50_ms", "{:.1f}"),
        ("push_p99_ms", "{:.1f}"),
        ("unanswered_pushes", "{:,.0f}"),
        ("cpu_cores", "{:.2f}"),
        ("cpu_us_per_socket_second", "{:.1f}"),
        ("kb_per_socket", "{:.1f}"),
        ("rows_per_participant_minute", "{:.2f}"),
        ("liveness_rows_per_participant_minute", "{:.2f}"),
        ("opened_after_hold_start_s", "{:.0f}"),
        ("load_average_hold", "{:.1f}"),
        ("storm_all_back_s", "{:.1f}"),
        ("storm_p50_back_s", "{:.1f}"),
        ("restarted_in", "{:.1f}"),
        ("storm_failed", "{:,.0f}"),
        ("storm_back_after_28s", "{:,.0f}"),
        ("storm_started_after_28s", "{:,.0f}"),
        ("storm_attempt_p50_s", "{:.2f}"),
        ("storm_attempt_p99_s", "{:.2f}"),
        ("storm_handshake_p50_s", "{:.2f}"),
        ("storm_handshake_p99_s", "{:.2f}"),
        ("storm_welcome_p50_s", "{:.2f}"),
        ("storm_welcome_p99_s", "{:.2f}"),
    ]:
        print(f"  {key:26}" + "".join(f"{fmt.format(r.get(key, float('nan'))):>16}" for r in rows))
    if "storm_all_back_s" in presence:
        print(f"  storm: back within (s)     {presence['storm_back_by_5s']}")
        print(f"  storm: attempts taken      {presence['storm_attempts_histogram']}")
        print(f"  storm: failed attempts     {presence['storm_failures']}")
    print("\nTargets (issue 13):")
    held = presence["held_at_end"]
    if carried:
        print(
            f"  sockets held vs HTTP carried     {held:,} vs {carried:,.0f} = {held / carried:.2f}x   target >= 2x   "
            f"{'PASS' if held >= 2 * carried else 'FAIL'}   (HTTP: heartbeat_bench, same run, p99 < 100 ms)"
        )
    print(
        f"  push p99                         {presence['push_p99_ms']:.0f} ms   target < 250 ms   "
        f"{'PASS' if presence['push_p99_ms'] < 250 else 'FAIL'}"
    )
    print(
        f"  false disconnects                {presence['unexpected_closes']}   target 0   "
        f"{'PASS' if presence['unexpected_closes'] == 0 else 'FAIL'}"
    )
    if not args.no_echo:
        ratio = presence["cpu_us_per_socket_second"] / rows[0]["cpu_us_per_socket_second"]
        print(
            f"  CPU per socket vs echo floor     {ratio:.2f}x   target <= 1.30x   {'PASS' if ratio <= 1.3 else 'FAIL'}"
        )
    liveness = presence["liveness_rows_per_participant_minute"]
    print(
        f"  DB rows per participant-minute   WebSocket {liveness:.2f} for liveness (batched: one UPDATE per node "
        f"and 500 sockets); HTTP 4.00 (a heartbeat every 15 s, one row and one statement each)   "
        f"{'PASS' if liveness <= 4 else 'FAIL'}"
    )
    if "storm_all_back_s" in presence:
        ok = presence["storm_all_back_s"] <= TIMEOUT_VISIBLE and presence["storm_failed"] == 0
        print(
            f"  reconnect storm ({presence['participants']:,})         all back in {presence['storm_all_back_s']:.1f} s "
            f"(median {presence['storm_p50_back_s']:.1f} s, server restart {presence['restarted_in']:.1f} s, "
            f"{presence['storm_failed']} not back, {presence['storm_back_after_28s']:,} back after 28 s; load average "
            f"{presence['load_average_after_storm']:.1f})   target <= {TIMEOUT_VISIBLE} s   {'PASS' if ok else 'FAIL'}"
        )
    print(
        f"  false absences after the storm   {presence['false_absences']}   target 0   "
        f"{'PASS' if presence['false_absences'] == 0 else 'FAIL'}"
    )
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "ramps": ramps, "http": http}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
