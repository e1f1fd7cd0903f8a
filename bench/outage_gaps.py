#!/usr/bin/env python3
"""Outage gaps: what reading them from the connection rows costs a session's suggestion, as the table grows.

    .venv/bin/python bench/outage_gaps.py            # about 30 s
    .venv/bin/python bench/outage_gaps.py --quick    # a smoke run of seconds

Makes its own PostgreSQL database (dropped and made again each run), migrates it, and fills
`whiteboard_connections` with a day's sessions after another (each hour: `--per-hour` sessions,
tutor and student connected for 50 minutes), `--days` back from the session measured. Then times,
in this process: one finished session's suggestion as the session page builds it (the baseline:
gaps passed as none, no query), the same with its outage gaps read (`session_outages`: one query
over the connections touching its time, index `wb_conn_closed_at`), and the staff checks page's
read of a fortnight's gaps. Each row is also given as a ratio to the baseline of the same run.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib import cli, database, population, report

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
QUICK = {"days": "1,3"}


def fill(*, tutor, student, days: int, per_hour: int, end: datetime) -> int:
    """Sessions and their connections, every hour for `days` before `end`; returns connection rows made."""
    from attendance.models import TutoringSession
    from whiteboard.models import Connection, WhiteboardSession

    made = 0
    start = end - timedelta(days=days)
    hour = start
    while hour < end:
        boards = WhiteboardSession.objects.bulk_create([WhiteboardSession() for _ in range(per_hour)])
        TutoringSession.objects.bulk_create(
            TutoringSession(
                tutor=tutor,
                student=student,
                whiteboard=board,
                scheduled_start=hour,
                scheduled_end=hour + timedelta(hours=1),
            )
            for board in boards
        )
        rows = [
            Connection(
                whiteboard=board,
                role=role,
                user=user,
                opened_at=hour,
                last_signal_at=hour + timedelta(minutes=50),
                expires_at=hour + timedelta(minutes=50, seconds=45),
                closed_at=hour + timedelta(minutes=50),
                close_reason="disconnect",
            )
            for board in boards
            for role, user in (("tutor", tutor), ("student", student))
        ]
        Connection.objects.bulk_create(rows, batch_size=2000)
        made += len(rows)
        hour += timedelta(hours=1)
    return made


def figures(*, tutor, student, days_list: list[int], per_hour: int) -> list[dict]:
    from django.db import connection

    from attendance.models import TutoringSession
    from attendance.services import attendance_suggest, session_outages
    from whiteboard.outages import outage_gaps

    rows = []
    end = T0 + timedelta(days=max(days_list))
    now = end + timedelta(minutes=30)
    filled = already = 0
    for days in days_list:  # the table grows, further back in time, from one row of figures to the next
        filled += fill(
            tutor=tutor, student=student, days=days - already, per_hour=per_hour, end=end - timedelta(days=already)
        )
        already = days
        with connection.cursor() as cursor:  # as autovacuum would after so many inserts: the planner's figures
            cursor.execute("ANALYZE whiteboard_connections")
        session = (
            TutoringSession.objects.select_related("whiteboard")
            .filter(scheduled_end__lte=end)
            .latest("scheduled_start")
        )

        def plain(session=session):
            return attendance_suggest(session=session, now=now, outages=[])

        def with_gaps(session=session):
            return attendance_suggest(session=session, now=now, outages=session_outages(session, now=now))

        def fortnight():
            return outage_gaps(start=end - timedelta(days=14), end=end, now=now)

        baseline = report.median_ms(plain)
        gaps_ms = report.median_ms(with_gaps)
        rows.append(
            {
                "days": days,
                "connections": filled,
                "suggestion_ms": baseline,
                "with_gaps_ms": gaps_ms,
                "ratio": gaps_ms / baseline,
                "fortnight_ms": report.median_ms(fortnight, budget=3),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__, db_name="attendance_bench_outages")
    parser.add_argument("--days", type=lambda t: sorted(int(n) for n in t.split(",")), default="1,7,30")
    parser.add_argument("--per-hour", type=int, default=20, help="sessions starting each hour")
    args = cli.parse(parser, argv, quick=QUICK)
    t0 = time.perf_counter()
    database.prepare(args)
    tutor, student = population.suggestion_pair()
    rows = figures(tutor=tutor, student=student, days_list=args.days, per_hour=args.per_hour)
    print("\nOne finished session's suggestion, without and with its outage gaps read (median ms)")
    print(f"  {'days':>4} {'connections':>11} {'suggestion':>10} {'+ gaps':>8} {'x':>5} {'14-day gaps':>11}")
    for r in rows:
        print(
            f"  {r['days']:>4} {r['connections']:>11,} {r['suggestion_ms']:>10.2f} {r['with_gaps_ms']:>8.2f} "
            f"{r['ratio']:>5.2f} {r['fortnight_ms']:>11.1f}"
        )
    print(f"\nTotal time {time.perf_counter() - t0:.0f} s.")
    report.write_json(args.json, args=args, rows=rows)
    return 0


if __name__ == "__main__":
    cli.run(main)
