"""Read-side timings on the bench database: suggestions from N presence signals, and the dashboard.

Called by heartbeat_bench.py once Django is set up against the bench database. Run alone
(`.venv/bin/python bench/suggestion_bench.py`) it is `heartbeat_bench.py --only-read-side`:
the database made afresh, these timings and no load.

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
(split between tutor and student) are well beyond it, which is the point.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

BEAT = timedelta(seconds=15)
SILENCE = timedelta(seconds=60)  # longer than the 45 s visible timeout: the next signal starts a new span
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


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


def _median_ms(func, *, min_runs: int = 3, max_runs: int = 200, budget: float = 1.5) -> float:
    """Median wall time of `func()` in ms over as many runs as fit in `budget` seconds (bounded)."""
    times = []
    deadline = time.perf_counter() + budget
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() < deadline):
        t0 = time.perf_counter()
        func()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def suggestion_figures(*, tutor, student, counts=(100, 1_000, 10_000), patterns=("everyday", "worst")) -> list[dict]:
    """For each pattern and signal count: ms to build one suggestion (service and rules alone), and the write-side cost."""
    import json

    from attendance.models import TutoringSession
    from attendance.services import attendance_suggest, participant_evidence
    from attendance.suggestions import Policy, suggest_session
    from whiteboard.models import Role, WhiteboardSession
    from whiteboard.presence import extend_span, span_totals

    rows = []
    policy = Policy.from_settings()
    for pattern in patterns:
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
                    "service_ms": _median_ms(service),
                    "rules_ms": _median_ms(rules),
                    "heartbeat_fold_ms": _median_ms(heartbeat_fold),
                    "spans_json_kb": len(json.dumps(tutor_spans)) / 1024,
                }
            )
    for pattern in patterns:
        base = next(r for r in rows if r["pattern"] == pattern and r["signals"] == counts[0])
        for row in rows:
            if row["pattern"] == pattern:
                row["service_ratio"] = row["service_ms"] / base["service_ms"]
    return rows


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
                "ms": _median_ms(lambda client=client: client.get("/"), min_runs=5, max_runs=20, budget=3.0),
                "kb": len(response.content) / 1024,
                "cards": cards,
            }
        )
    return rows


def print_suggestions(rows: list[dict]) -> None:
    print("\nSuggestion from N presence signals (tutor + student; median of repeated runs)")
    print(
        f"  {'pattern':9} {'signals':>7} {'spans':>6} {'hidden':>6} {'service ms':>10} {'x vs 100':>8} "
        f"{'rules ms':>8} {'+1 beat ms':>10} {'spans KB':>8}"
    )
    for r in rows:
        print(
            f"  {r['pattern']:9} {r['signals']:>7,} {r['spans']:>6,} {r['hidden_intervals']:>6,} "
            f"{r['service_ms']:>10.2f} {r['service_ratio']:>8.1f} {r['rules_ms']:>8.2f} "
            f"{r['heartbeat_fold_ms']:>10.3f} {r['spans_json_kb']:>8.1f}"
        )


def print_dashboard(rows: list[dict]) -> None:
    print("\nTutor dashboard GET / (Django test client, whole middleware stack, bench database)")
    print(f"  {'sessions':>8} {'queries':>7} {'median ms':>9} {'HTML KB':>8}")
    for r in rows:
        print(f"  {r['sessions']:>8} {r['queries']:>7} {r['ms']:>9.1f} {r['kb']:>8.0f}")


if __name__ == "__main__":
    import heartbeat_bench

    heartbeat_bench.main(["--only-read-side"])
