#!/usr/bin/env python3
"""Dashboard timing: the tutor dashboard's queries and time with 50 and with 500 sessions.

    .venv/bin/python bench/dashboard_timing.py            # about 15 s
    .venv/bin/python bench/dashboard_timing.py --quick    # a smoke run of seconds

Makes its own PostgreSQL database (dropped and made again each run), migrates it, and gives
a tutor per count that many sessions spread over the dashboard's window (30 days back, 14
ahead): ended ones with presence, two in three already marked, one whiteboard in 25 with
an open connection. Then `GET /` as that tutor through the Django test client (every
middleware, session authentication, template rendering), in this process, queries counted
with CaptureQueriesContext. The same query count for every size means no query per card;
each time is also given as a ratio to the smallest size's, measured in the same run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib import cli, database, population, report

QUICK = {"sessions": "50,100"}


def dashboard_figures(*, tutors: dict[int, object]) -> list[dict]:
    """Query count and time of the tutor dashboard (GET /, full middleware stack) per number of sessions."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    rows = []
    for sessions, tutor in sorted(tutors.items()):
        client = Client()
        client.force_login(tutor)
        response = client.get("/")  # warm-up: templates compiled, connection open
        assert response.status_code == 200, response.status_code
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/")
        cards = response.content.count(b'data-testid="session-card"')
        rows.append(
            {
                "sessions": sessions,
                "queries": len(queries),
                "ms": report.median_ms(lambda client=client: client.get("/"), min_runs=5, max_runs=20, budget=3.0),
                "kb": len(response.content) / 1024,
                "cards": cards,
            }
        )
    for row in rows:
        row["ratio"] = row["ms"] / rows[0]["ms"]
    return rows


def print_dashboard(rows: list[dict]) -> None:
    print("\nTutor dashboard GET / (Django test client, whole middleware stack, bench database)")
    print(f"  {'sessions':>8} {'queries':>7} {'median ms':>9} {'x vs ' + str(rows[0]['sessions']):>8} {'HTML KB':>8}")
    for r in rows:
        print(f"  {r['sessions']:>8} {r['queries']:>7} {r['ms']:>9.1f} {r['ratio']:>8.1f} {r['kb']:>8.0f}")
    print("\nSummary")
    for row in rows:
        print(f"  dashboard with {row['sessions']:>4} sessions          {row['queries']:8} queries, {row['ms']:.0f} ms")
    same = len({r["queries"] for r in rows}) == 1
    print(f"  queries per card                  {'none' if same else 'SOME: the count grows with the sessions'}")


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__, db_name="attendance_bench_dashboard")
    parser.add_argument(
        "--sessions",
        type=lambda text: sorted({int(n) for n in text.split(",")}),
        default="50,500",
        help="sessions on each tutor's dashboard (comma-separated); the smallest is the baseline of the ratios",
    )
    args = cli.parse(parser, argv, quick=QUICK)
    t0 = time.perf_counter()
    database.prepare(args)
    tutors = population.dashboard_tutors(args.sessions)
    rows = dashboard_figures(tutors=tutors)
    print_dashboard(rows)
    print(f"\nTotal time {time.perf_counter() - t0:.0f} s.")
    report.write_json(args.json, args=args, dashboard=rows)
    return 0


if __name__ == "__main__":
    cli.run(main)
