#!/usr/bin/env python3
"""Retention purge: how fast raw presence detail goes, per whiteboard, at batch sizes 50, 200 and 1,000.

    .venv/bin/python bench/retention_purge.py            # 1,000 whiteboards per batch size, about 1 min
    .venv/bin/python bench/retention_purge.py --quick    # a smoke run of seconds

Makes its own PostgreSQL database (dropped and made again each run) and three groups of ended
sessions ten days apart, each whiteboard holding what a one-hour session leaves: per participant
the spans of 240 signals (a tab hidden for a while every ten minutes), 3 connection rows and 6 log
entries. Each group is then purged by `attendance.retention.presence_detail_purge` with a `now`
that puts only that group past the retention, at one batch size: whiteboards per second, the time
one batch holds its locks, and the ratio to the first batch size's rate (same run). A dry run's
counting time is given beside.
"""

from __future__ import annotations

import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib import cli, database, population, report

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
BATCHES = (50, 200, 1000)
QUICK = {"whiteboards": 40}


def spans_of_a_session(start: datetime) -> list[dict]:
    """One participant's spans for an hour: 240 beats, a new span every ten minutes, the last 2.5 min hidden."""
    from whiteboard.presence import extend_span, start_span

    spans: list[dict] = []
    for block in range(6):
        at = start + timedelta(minutes=10 * block)
        spans = start_span(spans, at=at)
        for beat in range(1, 39):
            since, at = at, at + timedelta(seconds=15)
            spans = extend_span(spans, since=since, until=at, hidden=beat >= 29)
    return spans


def make_group(*, tutor, student, count: int, day: int) -> None:
    """`count` ended sessions on day `day` after T0, each with a whiteboard full of raw detail."""
    from attendance.models import TutoringSession
    from whiteboard.models import Connection, WhiteboardSession
    from whiteboard.presence import span_totals

    start = T0 + timedelta(days=day)
    spans = spans_of_a_session(start)
    active, hidden = span_totals(spans)
    log = [
        {"event": event, "role": role, "user_id": 0, "connection_id": str(uuid.uuid4()), "at": start.isoformat()}
        for role in ("tutor", "student")
        for event in ("connect", "disconnect", "connect", "timeout", "connect", "disconnect")
    ]
    columns = {
        f"{role}_{name}": value
        for role in ("tutor", "student")
        for name, value in (
            ("connected_at", start),
            ("disconnected_at", start + timedelta(hours=1)),
            ("last_activity_at", start + timedelta(hours=1)),
            ("total_active_seconds", active),
            ("hidden_seconds", hidden),
            ("presence_spans", spans),
        )
    }
    boards = WhiteboardSession.objects.bulk_create(
        [WhiteboardSession(connection_logs=log, created_at=start, **columns) for _ in range(count)]
    )
    TutoringSession.objects.bulk_create(
        TutoringSession(
            tutor=tutor, student=student, whiteboard=b, scheduled_start=start, scheduled_end=start + timedelta(hours=1)
        )
        for b in boards
    )
    Connection.objects.bulk_create(
        Connection(
            whiteboard=b,
            role=role,
            user=user,
            opened_at=start,
            last_signal_at=start + timedelta(minutes=20),
            expires_at=start + timedelta(minutes=21),
            closed_at=start + timedelta(minutes=21),
            close_reason="disconnect",
        )
        for b in boards
        for role, user in (("tutor", tutor), ("student", student))
        for _ in range(3)
    )


def purge_figures(*, count: int) -> list[dict]:
    from django.conf import settings

    from attendance.retention import presence_detail_purge

    tutor, student = population.suggestion_pair()
    for group in range(len(BATCHES)):
        make_group(tutor=tutor, student=student, count=count, day=10 * group)
    rows = []
    for group, batch in enumerate(BATCHES):
        now = T0 + timedelta(days=10 * group + settings.PRESENCE_RETENTION_DAYS, hours=2)
        started = time.perf_counter()
        dry = presence_detail_purge(now=now, dry_run=True)
        dry_s = time.perf_counter() - started
        started = time.perf_counter()
        done = presence_detail_purge(now=now, batch_size=batch)
        seconds = time.perf_counter() - started
        assert done.whiteboards == count == dry.whiteboards, (done.as_dict(), dry.as_dict())
        rows.append(
            {
                "batch_size": batch,
                "whiteboards": done.whiteboards,
                "connections": done.removed["connections"],
                "seconds": seconds,
                "per_second": done.whiteboards / seconds,
                "batch_ms": seconds / done.batches * 1000,
                "dry_run_seconds": dry_s,
            }
        )
    for row in rows:
        row["ratio"] = row["per_second"] / rows[0]["per_second"]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__, db_name="attendance_bench_retention")
    parser.add_argument("--whiteboards", type=int, default=1000, help="whiteboards purged per batch size")
    args = cli.parse(parser, argv, quick=QUICK)
    t0 = time.perf_counter()
    database.prepare(args)
    rows = purge_figures(count=args.whiteboards)
    print(f"\nRetention purge, {args.whiteboards:,} whiteboards per batch size (PostgreSQL, in this process)")
    print(f"  {'batch':>5} {'wb/s':>8} {'x vs 50':>7} {'ms/batch':>9} {'connections':>11} {'dry run s':>9}")
    for r in rows:
        print(
            f"  {r['batch_size']:>5} {r['per_second']:>8.0f} {r['ratio']:>7.2f} {r['batch_ms']:>9.0f} "
            f"{r['connections']:>11,} {r['dry_run_seconds']:>9.2f}"
        )
    print(f"\nTotal time {time.perf_counter() - t0:.0f} s.")
    report.write_json(args.json, args=args, purge=rows)
    return 0


if __name__ == "__main__":
    cli.run(main)
