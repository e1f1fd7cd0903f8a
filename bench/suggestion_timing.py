#!/usr/bin/env python3
"""Suggestion timing: what an attendance suggestion costs from 100, 1,000 and 10,000 presence signals.

    .venv/bin/python bench/suggestion_timing.py            # about 20 s
    .venv/bin/python bench/suggestion_timing.py --quick    # a smoke run of seconds

Makes its own PostgreSQL database (dropped and made again each run), migrates it, and times,
in this process, what GET /api/tutor/sessions/{id}/attendance-suggestion costs less HTTP.

What a "signal" is here: one connect or heartbeat as the server receives it. Signals are
folded into presence spans by the same pure functions the presence service uses
(whiteboard.presence.start_span / extend_span), the spans are stored on a whiteboard row,
and the suggestion is then built the way the API builds it (attendance_suggest: read the
row, decode the JSON, parse the times, apply the rules). A heartbeat that continues a
span does not grow the evidence, so what costs is the number of spans and hidden
intervals the signals leave behind; two patterns bracket that:

- everyday: blocks of 40 signals (10 minutes of one tab): a connect, 29 visible beats,
  10 hidden beats, then a silence longer than the timeout. One span and one hidden
  interval per 40 signals.
- worst: every second signal follows a silence longer than the timeout (a connection
  flapping at every beat): one span per two signals.

A real one-hour session is about 240 signals per participant; 1,000 and 10,000 signals
(split between tutor and student) are well beyond it, which is the point. Each time is
also given as a ratio to the smallest count's, measured in the same run.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib import cli, database, population, report

BEAT = timedelta(seconds=15)
SILENCE = timedelta(seconds=60)  # longer than the 45 s visible timeout: the next signal starts a new span
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
PATTERNS = ("everyday", "worst")
QUICK = {"signals": "100,1000"}


def fold_signals(count: int, pattern: str, *, start: datetime = T0) -> tuple[list[dict], datetime]:
    """Presence spans left by `count` signals of `pattern`, through whiteboard.presence; and the last signal's time."""
    from whiteboard.presence import extend_span, start_span

    spans: list[dict] = []
    at, previous = start, None
    block = 40 if pattern == "everyday" else 2
    for k in range(count):
        position = k % block
        if position == 0:
            if previous is not None:
                at = previous + SILENCE
            spans = start_span(spans, at=at)
        else:
            at = previous + BEAT
            hidden = pattern == "everyday" and position >= 30
            spans = extend_span(spans, since=previous, until=at, hidden=hidden)
        previous = at
    return spans, previous or start


def suggestion_figures(*, tutor, student, counts: list[int]) -> list[dict]:
    """For each pattern and signal count: ms to build one suggestion (service and rules alone), and the write-side cost."""
    from attendance.models import TutoringSession
    from attendance.services import attendance_suggest, participant_evidence
    from attendance.suggestions import Policy, suggest_session
    from whiteboard.models import Role, WhiteboardSession
    from whiteboard.presence import extend_span, span_totals

    rows = []
    policy = Policy.from_settings()
    for pattern in PATTERNS:
        for count in counts:
            tutor_spans, tutor_last = fold_signals(count // 2, pattern)
            student_spans, student_last = fold_signals(count - count // 2, pattern, start=T0 + timedelta(seconds=5))
            last = max(tutor_last, student_last)
            tutor_active, tutor_hidden = span_totals(tutor_spans)
            student_active, student_hidden = span_totals(student_spans)
            whiteboard = WhiteboardSession.objects.create(
                tutor_connected_at=T0,
                tutor_disconnected_at=tutor_last,
                tutor_last_activity_at=tutor_last,
                tutor_total_active_seconds=tutor_active,
                tutor_hidden_seconds=tutor_hidden,
                tutor_presence_spans=tutor_spans,
                student_connected_at=T0,
                student_disconnected_at=student_last,
                student_last_activity_at=student_last,
                student_total_active_seconds=student_active,
                student_hidden_seconds=student_hidden,
                student_presence_spans=student_spans,
            )
            # The window covers every signal, so nothing is clipped away before the rules see it.
            session = TutoringSession.objects.create(
                tutor=tutor,
                student=student,
                whiteboard=whiteboard,
                title=f"bench {pattern} {count}",
                scheduled_start=T0,
                scheduled_end=last + timedelta(minutes=1),
            )
            now = last + timedelta(hours=1)

            def service(session_id=session.pk, now=now):
                # What GET /api/tutor/sessions/{id}/attendance-suggestion does, less HTTP.
                fetched = TutoringSession.objects.select_related("whiteboard").get(pk=session_id)
                return attendance_suggest(session=fetched, now=now).to_dict()

            evidence = participant_evidence(session, now=now)

            def rules(session=session, evidence=evidence, now=now):
                return suggest_session(
                    scheduled_start=session.scheduled_start,
                    scheduled_end=session.scheduled_end,
                    tutor=evidence[Role.TUTOR],
                    student=evidence[Role.STUDENT],
                    now=now,
                    policy=policy,
                )

            def heartbeat_fold(spans=tutor_spans, last=tutor_last):
                # What one more heartbeat costs in Python for this participant (presence_heartbeat's set_spans).
                extended = extend_span(spans, since=last, until=last + BEAT, hidden=False)
                return span_totals(extended)

            hidden_intervals = sum(len(s["hidden"]) for s in tutor_spans + student_spans)
            rows.append(
                {
                    "pattern": pattern,
                    "signals": count,
                    "spans": len(tutor_spans) + len(student_spans),
                    "hidden_intervals": hidden_intervals,
                    "service_ms": report.median_ms(service),
                    "rules_ms": report.median_ms(rules),
                    "heartbeat_fold_ms": report.median_ms(heartbeat_fold),
                    "spans_json_kb": len(json.dumps(tutor_spans)) / 1024,
                }
            )
    for pattern in PATTERNS:
        base = next(r for r in rows if r["pattern"] == pattern and r["signals"] == counts[0])
        for row in rows:
            if row["pattern"] == pattern:
                row["service_ratio"] = row["service_ms"] / base["service_ms"]
    return rows


def print_suggestions(rows: list[dict], counts: list[int]) -> None:
    print("\nSuggestion from N presence signals (tutor + student; median of repeated runs)")
    print(
        f"  {'pattern':9} {'signals':>7} {'spans':>6} {'hidden':>6} {'service ms':>10} {f'x vs {counts[0]:,}':>8} "
        f"{'rules ms':>8} {'+1 beat ms':>10} {'spans KB':>8}"
    )
    for r in rows:
        print(
            f"  {r['pattern']:9} {r['signals']:>7,} {r['spans']:>6,} {r['hidden_intervals']:>6,} "
            f"{r['service_ms']:>10.2f} {r['service_ratio']:>8.1f} {r['rules_ms']:>8.2f} "
            f"{r['heartbeat_fold_ms']:>10.3f} {r['spans_json_kb']:>8.1f}"
        )
    print("\nSummary")
    for row in rows:
        if row["pattern"] == "everyday" and row["signals"] != counts[0]:
            worst = next(r for r in rows if r["pattern"] == "worst" and r["signals"] == row["signals"])
            print(
                f"  suggestion from {row['signals']:>6,} signals       {row['service_ms']:8.2f} ms "
                f"({row['service_ratio']:.1f}x the {counts[0]:,}-signal time; worst pattern: "
                f"{worst['service_ms']:.1f} ms)"
            )


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__, db_name="attendance_bench_suggestion")
    parser.add_argument(
        "--signals",
        type=lambda text: sorted(int(n) for n in text.split(",")),
        default="100,1000,10000",
        help="signal counts (comma-separated); the smallest is the baseline of the ratios",
    )
    args = cli.parse(parser, argv, quick=QUICK)
    t0 = time.perf_counter()
    database.prepare(args)
    tutor, student = population.suggestion_pair()
    rows = suggestion_figures(tutor=tutor, student=student, counts=args.signals)
    print_suggestions(rows, args.signals)
    print(f"\nTotal time {time.perf_counter() - t0:.0f} s.")
    report.write_json(args.json, args=args, suggestions=rows)
    return 0


if __name__ == "__main__":
    cli.run(main)
