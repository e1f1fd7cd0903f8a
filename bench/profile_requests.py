#!/usr/bin/env python3
"""Where a heartbeat's time goes, next to the baseline's: one request at a time, in-process, profiled.

    .venv/bin/python bench/profile_requests.py               # 300 of each, summary + top functions
    .venv/bin/python bench/profile_requests.py --count 1000 --top 40

Makes its own small database (attendance_bench_profile), then sends requests through
Django's full WSGI stack (django.test.Client: every middleware, DRF, the view, the
renderer) with a bearer token, as gunicorn would, but in this one thread so that nothing
else competes. For each endpoint it prints wall time per request, split into time spent
waiting on PostgreSQL (every query timed through connection.execute_wrapper) and the
rest (Python), the queries each request sends, and the functions that cost most.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]

import heartbeat_bench  # noqa: E402


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


def measure(name: str, send, count: int, top: int, sort: str) -> None:
    from django.db import connection

    for _ in range(20):  # warm-up: imports, caches, the connection
        send()
    timer = QueryTimer()
    profiler = cProfile.Profile()
    with connection.execute_wrapper(timer):
        t0 = time.perf_counter()
        profiler.enable()
        for _ in range(count):
            send()
        profiler.disable()
        wall = time.perf_counter() - t0
    per = wall / count * 1000
    sql = timer.seconds / count * 1000
    print(
        f"\n{name}: {per:.2f} ms per request = {sql:.2f} ms waiting on PostgreSQL ({timer.count / count:.1f} "
        f"queries) + {per - sql:.2f} ms in Python (profiler overhead included)"
    )
    for statement, n in timer.statements.most_common():
        print(f"  {n / count:4.1f} x  {statement}")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(top)
    print("\n".join(line for line in out.getvalue().splitlines()[4:] if line.strip()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime", help="pstats order: tottime, cumulative, ...")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db-name", default="attendance_bench_profile")
    args = parser.parse_args(argv)

    # One participant beats far faster than a real tab: lift the per-user limit, keep the throttle's work.
    os.environ["THROTTLE_HEARTBEAT"] = os.environ["THROTTLE_CONNECT"] = "1000000/min"
    heartbeat_bench.recreate_database(args.pg, args.db_name)
    heartbeat_bench.setup_django(f"{args.pg}/{args.db_name}")
    heartbeat_bench.migrate()
    participants = heartbeat_bench.populate(2)
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

    def heartbeat():
        response = client.post(f"{base}/heartbeat", body, content_type="application/json", **auth)
        assert response.status_code == 200, response.content

    def ping():
        response = client.get("/api/ping", **auth)
        assert response.status_code == 200, response.content

    measure("GET /api/ping", ping, args.count, args.top, args.sort)
    measure("POST heartbeat", heartbeat, args.count, args.top, args.sort)
    return 0


if __name__ == "__main__":
    sys.exit(main())
