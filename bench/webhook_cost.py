#!/usr/bin/env python3
"""Webhook cost: what subscribed endpoints add to the change that makes their deliveries.

    .venv/bin/python bench/webhook_cost.py            # about 40 s
    .venv/bin/python bench/webhook_cost.py --quick    # a smoke run of seconds

Deliveries are rows made inside the transaction of the change (issue 18), so every subscribed
endpoint costs the tutor's mark, and the presence connect, an INSERT. This measures, in this
process on its own PostgreSQL database (dropped and made again each run): a tutor's mark
(`attendance_mark_by_hand`, alternating absent and late on one ended session) and a student's
arrival and departure (`presence_connect` then `presence_disconnect` on a running session: a
`presence.joined` and a `presence.left`), with 0, 1 and `--endpoints` subscribed endpoints, the cases
taking turns for `--rounds` rounds (a drift of the shared machine weighs on all alike). Median ms
and statements per operation; ratios against 0 endpoints, measured in the same run. Sending is left out: the deliveries' queueing
after commit is replaced by a counter (sending is a Celery task's, after the answer).
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib import cli, database, population, report

QUICK = {"endpoints": "3", "budget": "0.6", "rounds": "2"}


def figures(*, endpoints: int, budget: float, rounds: int) -> list[dict]:
    from datetime import timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from attendance.models import TutoringSession
    from attendance.services import attendance_mark_by_hand
    from webhooks import receivers
    from webhooks.models import EventType, WebhookDelivery, WebhookEndpoint
    from whiteboard.models import WhiteboardSession
    from whiteboard.services import presence_connect, presence_disconnect

    queued = []
    receivers.deliveries_queue = queued.extend  # made, committed, not sent
    tutor, student = population.suggestion_pair()
    now = timezone.now()
    ended = TutoringSession.objects.create(
        tutor=tutor,
        student=student,
        scheduled_start=now - timedelta(hours=2),
        scheduled_end=now - timedelta(hours=1),
        whiteboard=WhiteboardSession.objects.create(),
    )
    running = TutoringSession.objects.create(
        tutor=tutor,
        student=student,
        scheduled_start=now - timedelta(minutes=10),
        scheduled_end=now + timedelta(minutes=50),
        whiteboard=WhiteboardSession.objects.create(),
    )
    statuses = iter(["absent", "late"] * 1_000_000)

    def mark():
        attendance_mark_by_hand(session=ended, by=tutor, tutor_status=None, student_status=next(statuses))

    def arrive_and_leave():
        connection_id = uuid.uuid4()
        presence_connect(whiteboard_id=running.whiteboard_id, user=student, connection_id=connection_id)
        presence_disconnect(whiteboard_id=running.whiteboard_id, user=student, connection_id=connection_id)

    def statements(func) -> int:
        with CaptureQueriesContext(connection) as queries:
            func()
        return len(queries)

    def subscribe(count: int) -> None:
        WebhookEndpoint.objects.all().delete()
        for n in range(count):
            WebhookEndpoint.objects.create(url=f"http://127.0.0.1:9/{n}", event_types=list(EventType.values))
        mark(), arrive_and_leave()  # warm: the subscriptions cached, statements compiled

    # The cases take turns, round after round, so a drift of the (shared) machine weighs on all alike.
    cases = (0, 1, endpoints)
    times = {count: {"mark": [], "presence": []} for count in cases}
    for _ in range(rounds):
        for count in cases:
            subscribe(count)
            times[count]["mark"].append(report.median_ms(mark, min_runs=5, max_runs=2000, budget=budget / rounds))
            times[count]["presence"].append(
                report.median_ms(arrive_and_leave, min_runs=5, max_runs=2000, budget=budget / rounds)
            )
    rows = []
    for count in cases:
        subscribe(count)
        before = WebhookDelivery.objects.count()
        row = {
            "endpoints": count,
            "mark_ms": statistics.median(times[count]["mark"]),
            "mark_statements": statements(mark),
            "presence_ms": statistics.median(times[count]["presence"]),
            "presence_statements": statements(arrive_and_leave),
            "rounds_mark_ms": times[count]["mark"],
            "rounds_presence_ms": times[count]["presence"],
        }
        row["deliveries_per_mark_and_join_leave"] = WebhookDelivery.objects.count() - before
        rows.append(row)
    for row in rows:
        row["mark_ratio"] = row["mark_ms"] / rows[0]["mark_ms"]
        row["presence_ratio"] = row["presence_ms"] / rows[0]["presence_ms"]
    return rows


def print_rows(rows: list[dict]) -> None:
    print("\nIn-process, PostgreSQL, deliveries made in the change's transaction (not sent)")
    print(
        f"  {'endpoints':>9} {'mark ms':>8} {'x':>5} {'stmts':>5}   {'join+leave ms':>13} {'x':>5} {'stmts':>5}"
        f" {'deliveries':>10}"
    )
    for r in rows:
        print(
            f"  {r['endpoints']:>9} {r['mark_ms']:>8.2f} {r['mark_ratio']:>5.2f} {r['mark_statements']:>5}"
            f"   {r['presence_ms']:>13.2f} {r['presence_ratio']:>5.2f} {r['presence_statements']:>5}"
            f" {r['deliveries_per_mark_and_join_leave']:>10}"
        )
    base = rows[0]
    print("\nSummary (medians of the rounds' medians)")
    for r in rows[1:]:
        print(
            f"  {r['endpoints']} endpoint(s): a mark +{r['mark_ms'] - base['mark_ms']:.2f} ms (x{r['mark_ratio']:.2f}, "
            f"+{r['mark_statements'] - base['mark_statements']} statements); a join and a leave "
            f"+{r['presence_ms'] - base['presence_ms']:.2f} ms (x{r['presence_ratio']:.2f}, "
            f"+{r['presence_statements'] - base['presence_statements']} statements)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__, db_name="attendance_bench_webhooks")
    parser.add_argument("--endpoints", type=int, default=5, help="subscribed endpoints in the largest case")
    parser.add_argument("--budget", type=float, default=6.0, help="seconds of timing per operation and case")
    parser.add_argument("--rounds", type=int, default=3, help="the cases take turns this many times")
    args = cli.parse(parser, argv, quick=QUICK)
    t0 = time.perf_counter()
    database.prepare(args)
    rows = figures(endpoints=args.endpoints, budget=args.budget, rounds=args.rounds)
    print_rows(rows)
    print(f"\nTotal time {time.perf_counter() - t0:.0f} s.")
    report.write_json(args.json, args=args, webhooks=rows)
    return 0


if __name__ == "__main__":
    cli.run(main)
