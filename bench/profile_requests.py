#!/usr/bin/env python3
"""Where a heartbeat's time goes, next to the baseline's: one request at a time, in-process, profiled.

    .venv/bin/python bench/profile_requests.py               # 300 of each, summary + top functions
    .venv/bin/python bench/profile_requests.py --count 1000 --top 40
    .venv/bin/python bench/profile_requests.py --quick        # a smoke run of seconds

Makes its own small database (attendance_bench_profile), then sends requests through
Django's full WSGI stack (django.test.Client: every middleware, DRF, the view, the
renderer) with a bearer token, as gunicorn would, but in this one thread so that nothing
else competes. For each endpoint it prints wall time per request, split into time spent
waiting on PostgreSQL (every query timed through connection.execute_wrapper) and the
rest (Python), the queries each request sends, and the functions that cost most.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib import cli, database, population, report

QUICK = {"count": 30, "top": 5}


class QueryTimer:
    """execute_wrapper that counts queries and the time spent in the database driver."""

    def __init__(self):
        self.count = 0
        self.seconds = 0.0
        self.statements: Counter[str] = Counter()

    def __call__(self, execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - t0
            self.count += 1
            self.statements[sql.split(" WHERE ")[0][:110]] += 1


def _backend_cpu(pid: int) -> float:
    """CPU seconds used so far by one PostgreSQL backend (it runs on this machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(name: str, send, count: int, top: int, sort: str) -> dict:
    from django.db import connection

    for _ in range(20):  # warm-up: imports, caches, the connection
        send()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    # Pass 1, no profiler: where the time goes (this process's CPU, the backend's CPU, waiting on the database).
    timer = QueryTimer()
    with connection.execute_wrapper(timer):
        cpu0, pg0, t0 = time.process_time(), _backend_cpu(backend), time.perf_counter()
        for _ in range(count):
            send()
        wall, cpu, pg = time.perf_counter() - t0, time.process_time() - cpu0, _backend_cpu(backend) - pg0
    figures = {
        "ms": wall / count * 1000,
        "django_cpu_ms": cpu / count * 1000,
        "postgres_cpu_ms": pg / count * 1000,
        "sql_wait_ms": timer.seconds / count * 1000,
        "queries": timer.count / count,
    }
    print(
        f"\n{name}: {figures['ms']:.2f} ms per request, one at a time: Django process CPU "
        f"{figures['django_cpu_ms']:.2f} ms, PostgreSQL backend CPU {figures['postgres_cpu_ms']:.2f} ms; "
        f"{figures['sql_wait_ms']:.2f} ms inside {figures['queries']:.1f} queries (+1 health-check SELECT 1)"
    )
    for statement, n in timer.statements.most_common():
        print(f"  {n / count:4.1f} x  {statement}")
    # Pass 2, profiled: which functions use the CPU.
    profiler = cProfile.Profile(time.process_time)  # CPU time: waiting on the database does not count
    profiler.enable()
    for _ in range(count):
        send()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(top)
    print("\n".join(line for line in out.getvalue().splitlines()[4:] if line.strip()))
    return figures


def main(argv=None) -> int:
    parser = cli.parser(__doc__, db_name="attendance_bench_profile", cache=True)
    parser.add_argument("--count", type=int, default=300, help="requests of each kind, timed, then again profiled")
    parser.add_argument("--top", type=int, default=25, help="functions shown per profile")
    parser.add_argument("--sort", default="tottime", help="pstats order: tottime, cumulative, ...")
    args = cli.parse(parser, argv, quick=QUICK)
    os.environ["CACHE_URL"] = args.cache_url or "locmemcache://"

    # One participant beats far faster than a real tab: lift the per-user limit, keep the throttle's work.
    os.environ["THROTTLE_HEARTBEAT"] = os.environ["THROTTLE_CONNECT"] = "1000000/min"
    database.prepare(args)
    participants = population.participants(2)
    from django.db import close_old_connections
    from django.test import Client

    client = Client()
    p = participants[0]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {p['token']}"}
    base = f"/api/whiteboard/sessions/{p['whiteboard_id']}"
    connection_id = str(uuid.uuid4())
    response = client.post(
        f"{base}/connect",
        {"connection_id": connection_id, "visibility": "visible"},
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 200, response.content
    body = {"connection_id": connection_id, "visibility": "visible"}

    def new_request():
        # What request_started does under gunicorn (the test client skips it): with CONN_HEALTH_CHECKS
        # the connection is checked again, one "SELECT 1" per request, not seen by the query timer.
        close_old_connections()

    def heartbeat():
        new_request()
        response = client.post(f"{base}/heartbeat", body, content_type="application/json", **auth)
        assert response.status_code == 200, response.content

    def ping():
        new_request()
        response = client.get("/api/ping", **auth)
        assert response.status_code == 200, response.content

    ping_figures = measure("GET /api/ping", ping, args.count, args.top, args.sort)
    beat_figures = measure("POST heartbeat", heartbeat, args.count, args.top, args.sort)
    print("\nper request        wall ms  Django CPU ms  PostgreSQL CPU ms  queries")
    for label, f in (("GET /api/ping", ping_figures), ("POST heartbeat", beat_figures)):
        print(f"{label:17} {f['ms']:8.2f} {f['django_cpu_ms']:14.2f} {f['postgres_cpu_ms']:18.2f} {f['queries']:8.1f}")
    ping_cpu = ping_figures["django_cpu_ms"] + ping_figures["postgres_cpu_ms"]
    beat_cpu = beat_figures["django_cpu_ms"] + beat_figures["postgres_cpu_ms"]
    print(
        f"CPU per heartbeat / CPU per ping = {beat_cpu / ping_cpu:.2f}: where CPU is the limit, heartbeat/baseline "
        f"throughput is about {ping_cpu / beat_cpu:.2f}"
    )
    report.write_json(args.json, args=args, ping=ping_figures, heartbeat=beat_figures)
    return 0


if __name__ == "__main__":
    cli.run(main)
