"""How long does a tutor wait for "mark absent" when the mail server is slow: sent in the request, or queued?

    .venv/bin/python bench/mail_bench.py                       # 25 marks per mode, about 1.5 minutes
    .venv/bin/python bench/mail_bench.py --requests 10 --clients 2
    .venv/bin/python bench/mail_bench.py --quick               # a smoke run of seconds; its figures mean little

One run measures both, side by side, against the same database, the same mail server and the same code:

- **synchronous** (as before issue 17, and as `dev.py run` still does without a broker): gunicorn
  without `CELERY_BROKER_URL`, so every task runs in the request, after commit;
- **queued**: gunicorn with `CELERY_BROKER_URL` on Redis (database 10 by default, emptied first) and a
  Celery worker process (`--celery-pool`, prefork by default) that sends the mail.

The mail server is a real SMTP process (tests/smtp_sink.py) that answers every message after
`--smtp-delay` seconds (2). Each request is `PUT /api/tutor/sessions/{id}/attendance` marking one
student absent, whose parent wants e-mail: one notification per request. Clients send their next
request when the previous one is answered (`--clients`, closed loop). Figures: latency p50/p99/max
and how long after the last answer the last mail reached the mail server. The database, gunicorn,
--quick and --json are the other scripts' (bench/lib): PostgreSQL at 127.0.0.1:5432, database
`--db-name` dropped and made at each run; everything on 127.0.0.1; every wait is bounded. A
script, not a test: it prints figures and exits 0.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib import cli, database, load, report
from bench.lib.server import ROOT, Server, ServerConfig, free_port

REQUEST_TIMEOUT = 30.0
QUICK = {"requests": "4", "warmup": "1", "smtp_delay": "0.5", "drain_timeout": "30"}


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise RuntimeError(f"gave up after {timeout} s waiting for {what}")


class Child:
    """A process in its own group, output to a log file, always stopped."""

    def __init__(self, args: list[str], env: dict, log: Path):
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


def parse_args(argv=None):
    parser = cli.parser(__doc__, db_name="attendance_bench_mail")
    parser.add_argument("--requests", type=int, default=25, help="marks per mode (one e-mail each)")
    parser.add_argument("--warmup", type=int, default=4, help="marks per mode before measuring (not counted)")
    parser.add_argument("--clients", type=int, default=1, help="closed-loop clients")
    parser.add_argument("--smtp-delay", type=float, default=2.0, help="seconds the mail server takes per message")
    parser.add_argument("--gunicorn-workers", type=int, default=2, help="sync workers, one per core")
    parser.add_argument("--celery-pool", default="prefork", help="the worker's pool (prefork, threads, solo)")
    parser.add_argument("--celery-concurrency", type=int, default=4, help="worker processes (or threads) sending mail")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/10", help="Redis database for the queue")
    parser.add_argument("--drain-timeout", type=float, default=120, help="most seconds to wait for the mails")
    return cli.parse(parser, argv, quick=QUICK)


def make_people(count: int) -> tuple[str, list[int]]:
    """A tutor (and their token) and `count` ended sessions, each with its own student and parent."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from accounts.services import token_issue
    from attendance.models import TutoringSession
    from families.models import Guardian, GuardianStudent

    user_model = get_user_model()
    tutor = user_model.objects.create_user("bench_tutor", "tutor@example.com", secrets.token_hex(8))
    _, key = token_issue(user=tutor, name="mail bench")
    end = timezone.now() - timedelta(hours=1)
    session_ids = []
    for i in range(count):
        student = user_model.objects.create_user(f"bench_student_{i}", f"student{i}@example.com")
        parent = user_model.objects.create_user(f"bench_parent_{i}", f"parent{i}@example.com")
        guardian = Guardian.objects.create(user=parent)
        GuardianStudent.objects.create(guardian=guardian, student=student)
        session = TutoringSession.objects.create(
            tutor=tutor, student=student, scheduled_start=end - timedelta(hours=1), scheduled_end=end
        )
        session_ids.append(session.pk)
    return key, session_ids


def mark_all(port: int, key: str, session_ids: list[int], clients: int) -> tuple[list[float], float]:
    """PUT absent for every session from `clients` closed-loop clients; latencies (s) and the last answer's time."""
    todo = list(session_ids)
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []

    def client():
        while True:
            with lock:
                if not todo:
                    return
                session_id = todo.pop(0)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
            started = time.perf_counter()
            try:
                conn.request(
                    "PUT",
                    f"/api/tutor/sessions/{session_id}/attendance",
                    body=json.dumps({"student_attendance_status": "absent"}),
                    headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                )
                response = conn.getresponse()
                response.read()
                took = time.perf_counter() - started
                with lock:
                    (latencies.append(took) if response.status == 200 else errors.append(str(response.status)))
            except OSError as error:
                with lock:
                    errors.append(type(error).__name__)
            finally:
                conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        print(f"  errors: {errors}")
    return latencies, time.time()


def arrivals(sink_log: Path) -> list[dict]:
    if not sink_log.exists():
        return []
    return [r for r in map(json.loads, sink_log.read_text().splitlines()) if r["event"] == "accepted"]


def run_mode(name, args, base_env, key, session_ids, sink_log, workdir) -> dict:
    env = dict(base_env)
    before = len(arrivals(sink_log))
    with contextlib.ExitStack() as stack:  # stops the server, then the worker, whatever happens
        if name == "queued":
            import redis

            broker = redis.Redis.from_url(args.broker)
            broker.flushdb()
            stack.callback(broker.flushdb)  # leave the bench's Redis database as found: empty
            env["CELERY_BROKER_URL"] = args.broker
            worker_args = [sys.executable, "-m", "celery", "-A", "config", "worker", f"--pool={args.celery_pool}"]
            worker_args += ["--concurrency", str(args.celery_concurrency), "--without-gossip", "--without-mingle"]
            worker_args += ["-l", "INFO"]  # its "ready." line is how the bench knows it is up
            worker = Child(worker_args, {**env, "LOG_LEVEL": "INFO"}, workdir / f"{name}-worker.log")
            stack.callback(worker.stop)
            wait_for(lambda: " ready." in worker.log(), 60, "the Celery worker")
        (workdir / name).mkdir()
        config = ServerConfig("sync", args.gunicorn_workers)
        server = stack.enter_context(Server(config, db_url=env["DATABASE_URL"], env=env, log_dir=workdir / name))
        # Not measured: each gunicorn worker's first requests open its connections (database, broker).
        warmup, session_ids = session_ids[: args.warmup], session_ids[args.warmup :]
        mark_all(server.port, key, warmup, args.gunicorn_workers)
        latencies, last_answer = mark_all(server.port, key, session_ids, args.clients)
        try:
            wait_for(
                lambda: len(arrivals(sink_log)) - before >= len(session_ids) + len(warmup),
                args.drain_timeout,
                f"{len(session_ids)} mails",
            )
        except RuntimeError as error:
            print(f"  {error}")
        mails = arrivals(sink_log)[before:]  # the warm-up's too: every mail must arrive once
    return {
        "mode": name,
        "requests": len(latencies),
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": load.percentile(sorted(latencies), 99),
        "max": max(latencies, default=float("nan")),
        "mails": len(mails),
        "distinct": len({m["message_id"] for m in mails}),
        "sorted_ms": [round(x * 1000) for x in sorted(latencies)],
        "drained_after": (max(m["at"] for m in mails) - last_answer) if mails else float("nan"),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"mail_bench_{os.getpid()}"
    workdir.mkdir(parents=True)
    database.prepare(args)  # made afresh, migrated, Django set up on it in this process
    per_mode = args.warmup + args.requests
    key, session_ids = make_people(2 * per_mode)
    database.close_connections()

    smtp_port = free_port()
    sink_log = workdir / "smtp.jsonl"
    Path(f"{sink_log}.delay").write_text(str(args.smtp_delay))
    sink = Child(
        [sys.executable, "tests/smtp_sink.py", "--port", str(smtp_port), "--log", str(sink_log)],
        dict(os.environ),
        workdir / "smtp.log",
    )
    base_env = {  # with database.prepare's: DATABASE_URL, DEBUG=false, static files without a manifest
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SECRET_KEY": secrets.token_urlsafe(40),
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "EMAIL_USE_TLS": "false",
        "EMAIL_TIMEOUT": str(int(args.smtp_delay) + 10),
        "LOG_LEVEL": "WARNING",
    }
    base_env.pop("CELERY_BROKER_URL", None)
    results = []
    try:
        wait_for(lambda: "ready" in (workdir / "smtp.log").read_text(), 30, "the SMTP sink")
        for name, ids in (("synchronous", session_ids[:per_mode]), ("queued", session_ids[per_mode:])):
            print(f"{name}: {len(ids)} marks, {args.clients} client(s), mail server answering in {args.smtp_delay} s")
            results.append(run_mode(name, args, base_env, key, ids, sink_log, workdir))
    finally:
        sink.stop()

    print()
    print(
        f"{'mode':<12} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'mails':>6} {'distinct':>8} "
        f"{'last mail after last answer':>28}"
    )
    for r in results:
        print(
            f"{r['mode']:<12} {r['requests']:>8} {r['p50'] * 1000:>8.0f} {r['p99'] * 1000:>8.0f} "
            f"{r['max'] * 1000:>8.0f} {r['mails']:>6} {r['distinct']:>8} {r['drained_after']:>27.1f}s"
        )
    for r in results:
        print(f"{r['mode']} latencies, sorted (ms): {r['sorted_ms']}")
    if len(results) == 2 and results[1]["p99"] > 0:
        print(f"\np99 synchronous / queued: {results[0]['p99'] / results[1]['p99']:.0f}x")
    print(f"logs: {workdir}")
    report.write_json(args.json, args=args, modes=results)
    return 0


if __name__ == "__main__":
    cli.run(main)
