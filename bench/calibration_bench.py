"""Does calibration make the suggestion's confidence honest? Brier score and expected calibration
error (ECE) of the rule confidence and of the calibrated figure, on decisions held out from the fit.

    .venv/bin/python bench/calibration_bench.py                   # 400 sessions, a fresh SQLite file, ~5 min on a busy 2-core machine
    .venv/bin/python bench/calibration_bench.py --sessions 200    # a smoke run
    .venv/bin/python bench/calibration_bench.py --database-url postgres://postgres@127.0.0.1:5432/att_bench_cal

A script, not a test: it prints figures and exits 0. The database is made afresh (SQLite in a
temporary directory unless --database-url; a PostgreSQL database is dropped and created).

What one run does, all through the real services with explicit `now=`:

1. Presence. Each session (30 min) gets whiteboard traces: `whiteboard.services.presence_connect`,
   `presence_heartbeat` (every 40 s, inside the 45 s visible timeout) and `presence_disconnect`.
   Students are on time, late, borderline late, leave early, drop out for a while, or never come;
   a few tutors do not come. The rules (`attendance_suggest`) judge each session.
2. Decisions. A tutor either accepts the suggestion (`attendance_apply_suggestion`: applied,
   never counted) or marks by hand (`attendance_mark_by_hand`), keeping each suggested status
   with a known probability: KEEP_RATE[status] x (0.6 + 0.4 x rule confidence) for the student,
   TUTOR_KEEP_RATE for the tutor's own status, times the tutor's own strictness. Otherwise they
   choose another status (DISAGREE_WITH).
3. Fit and hold-out. Decisions are split by time: the first 70 % are fitted
   (`attendance.calibration.calibration_fit`, the same code as `manage.py calibrate_suggestions`),
   the last 30 % are held out; Brier score and ECE (10 bins) are printed for the rule confidence
   and the calibrated confidence (`calibration_current()`, the request path's reader). Then the
   same over every decision: the history cut into --folds blocks of time, each block scored by a
   fit on the others (less noisy than one small held-out tail).

`--reuse --database-url sqlite:////path/bench.sqlite3` scores a history an earlier run built
(the path is printed on the first line), without building it again.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
SESSION = timedelta(minutes=30)
BEAT = timedelta(seconds=40)

# Probability a tutor keeps the suggested student status at full confidence (scaled down for lower confidence).
KEEP_RATE = {"present": 0.97, "late": 0.70, "left_early": 0.60, "absent": 0.90}
TUTOR_KEEP_RATE = 0.98
# What a tutor who disagrees chooses instead.
DISAGREE_WITH = {"present": "late", "late": "present", "left_early": "present", "absent": "excused"}
ACCEPT_SHARE = 0.2  # tutors who accept the suggestion as it is (applied: never counted)
# Student behaviour: (share, name).
BEHAVIOURS = (
    (0.50, "on_time"),
    (0.14, "late"),
    (0.10, "borderline_late"),
    (0.08, "left_early"),
    (0.06, "dropout"),
    (0.08, "absent"),
    (0.04, "brief"),
)


def setup_django(database_url: str | None, *, reuse: bool = False) -> str:
    sys.path.insert(0, str(ROOT))
    if reuse:
        pass  # a database an earlier run built: fit and score again, build nothing
    elif database_url is None:
        path = Path(tempfile.mkdtemp(prefix="calibration-bench-")) / "bench.sqlite3"
        database_url = f"sqlite:///{path}"
    elif database_url.startswith("postgres"):
        import psycopg

        base, name = database_url.rsplit("/", 1)
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "calibration-bench-" + uuid.uuid4().hex)
    os.environ["EMAIL_URL"] = "dummymail://"  # streak alerts must not print thousands of mails
    import django
    from django.conf import settings

    if database_url.startswith("sqlite"):
        # The bench measures calibration, not the disk: no fsync per transaction (tens of thousands of them).
        options = settings.DATABASES["default"].setdefault("OPTIONS", {})
        options["init_command"] = "PRAGMA synchronous=OFF; PRAGMA journal_mode=MEMORY;"
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return database_url


def trace(whiteboard_id, user, start, end, *, now_end=None):
    """One connection from start to end through the real presence service."""
    from whiteboard.services import presence_connect, presence_disconnect, presence_heartbeat

    connection_id = uuid.uuid4()
    presence_connect(whiteboard_id=whiteboard_id, user=user, connection_id=connection_id, now=start)
    moment = start
    while moment + BEAT <= end:
        moment += BEAT
        presence_heartbeat(
            whiteboard_id=whiteboard_id, user=user, connection_id=connection_id, visibility="visible", now=moment
        )
    presence_disconnect(whiteboard_id=whiteboard_id, user=user, connection_id=connection_id, now=end)


def minutes(value: float) -> timedelta:
    return timedelta(seconds=round(value * 60))


def student_presence(rng, start, end) -> list[tuple[datetime, datetime]]:
    roll, behaviour = rng.random(), BEHAVIOURS[-1][1]
    for share, name in BEHAVIOURS:
        if roll < share:
            behaviour = name
            break
        roll -= share
    if behaviour == "on_time":
        return [(start - minutes(rng.uniform(0, 2)), end)]
    if behaviour == "late":
        return [(start + minutes(rng.uniform(6, 15)), end)]
    if behaviour == "borderline_late":
        return [(start + minutes(rng.uniform(3.5, 7)), end)]
    if behaviour == "left_early":
        return [(start - minutes(1), end - minutes(rng.uniform(6, 15)))]
    if behaviour == "dropout":
        gap = rng.uniform(3, 8)
        return [(start - minutes(1), start + minutes(10)), (start + minutes(10 + gap), end)]
    if behaviour == "brief":
        return [(start + minutes(rng.uniform(0, 20)), None)]  # a few minutes only, filled below
    return []


def build_history(count: int, seed: int) -> dict:
    from django.contrib.auth import get_user_model

    from attendance.models import TutoringSession
    from attendance.services import attendance_apply_suggestion, attendance_mark_by_hand, attendance_suggest
    from whiteboard.models import WhiteboardSession

    rng = random.Random(seed)
    users = get_user_model()
    tutors = [users.objects.create(username=f"tutor{i}", first_name=f"Tutor {i}") for i in range(6)]
    # Each tutor's own strictness: some change the suggestion more often than others.
    strictness = {t.pk: s for t, s in zip(tutors, (1.0, 1.0, 0.97, 0.95, 0.9, 0.85), strict=True)}
    students = [users.objects.create(username=f"student{i}") for i in range(30)]
    counts = {"chosen": 0, "applied": 0}
    for k in range(count):
        start = T0 + timedelta(days=k // 40, minutes=(k % 40) * 31)
        end = start + SESSION
        tutor, student = rng.choice(tutors), rng.choice(students)
        board = WhiteboardSession.objects.create()
        session = TutoringSession.objects.create(
            tutor=tutor, student=student, scheduled_start=start, scheduled_end=end, whiteboard=board
        )
        if rng.random() > 0.03:
            trace(board.pk, tutor, start - minutes(1), end)
        for span_start, span_end in student_presence(rng, start, end):
            span_end = span_end or min(end, span_start + minutes(rng.uniform(1, 6)))
            trace(board.pk, student, span_start, span_end)
        session = TutoringSession.objects.select_related("whiteboard").get(pk=session.pk)
        decided_at = end + timedelta(minutes=5)
        suggestion = attendance_suggest(session=session, now=decided_at)
        if rng.random() < ACCEPT_SHARE:
            attendance_apply_suggestion(session=session, by=tutor, now=decided_at)
            counts["applied"] += 1
            continue
        own = strictness[tutor.pk]
        s_status, s_conf = suggestion.student.status, suggestion.student.confidence
        t_status = suggestion.tutor.status
        keep_student = rng.random() < KEEP_RATE.get(s_status, 1.0) * (0.6 + 0.4 * s_conf) * own
        keep_tutor = rng.random() < TUTOR_KEEP_RATE * own
        attendance_mark_by_hand(
            session=session,
            by=tutor,
            tutor_status=t_status if keep_tutor else DISAGREE_WITH.get(t_status, "present"),
            student_status=s_status if keep_student else DISAGREE_WITH.get(s_status, "present"),
            now=decided_at,
        )
        counts["chosen"] += 1
    return counts


def scores(rows, calibrator=None, *, after=None) -> dict:
    from attendance.calibration import brier, expected_calibration_error

    outcomes = [int(d.kept) for d in rows]
    before = [d.confidence for d in rows]
    if after is None:
        after = [calibrator.confidence(role=d.role, status=d.suggested, confidence=d.confidence) for d in rows]
    return {
        "n": len(rows),
        "kept": sum(outcomes) / len(outcomes) if outcomes else float("nan"),
        "mean_rule": sum(before) / len(before) if before else float("nan"),
        "brier_before": brier(before, outcomes),
        "brier_after": brier(after, outcomes),
        "ece_before": expected_calibration_error(before, outcomes),
        "ece_after": expected_calibration_error(after, outcomes),
    }


def table(held_out, score) -> None:
    header = (
        f"{'role':8} {'n':>5} {'kept':>6} {'mean rule conf':>15} {'Brier rule':>11} {'Brier calib':>12} "
        f"{'ratio':>6} {'ECE rule':>9} {'ECE calib':>10}"
    )
    print(header)
    print("-" * len(header))
    for role in ("student", "tutor", "both"):
        rows = held_out if role == "both" else [d for d in held_out if d.role == role]
        if not rows:
            continue
        s = score(rows)
        print(
            f"{role:8} {s['n']:5d} {s['kept']:6.1%} {s['mean_rule']:15.3f} {s['brier_before']:11.4f} "
            f"{s['brier_after']:12.4f} {s['brier_after'] / s['brier_before']:6.2f} {s['ece_before']:9.4f} "
            f"{s['ece_after']:10.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=400, help="sessions to simulate (default 400)")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--train-share", type=float, default=0.7)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file in a temporary directory")
    parser.add_argument(
        "--folds", type=int, default=5, help="blocks of time for the cross-validated figures (default 5)"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="score the history already in --database-url again; build nothing"
    )
    args = parser.parse_args()
    if args.reuse and not args.database_url:
        parser.error("--reuse needs --database-url")
    if not 50 <= args.sessions <= 5000:
        parser.error("--sessions between 50 and 5000")

    began = time.perf_counter()
    url = setup_django(args.database_url, reuse=args.reuse)
    from django.conf import settings

    from attendance.calibration import calibration_current, calibration_fit
    from attendance.decisions import decisions
    from reports.figures import agreement

    print(f"database: {url.split('@')[-1]}")
    if args.reuse:
        from attendance.models import TutoringSession

        counts = {"chosen": "?", "applied": "?"}
        args.sessions = TutoringSession.objects.count()
    else:
        counts = build_history(args.sessions, args.seed)
    built = time.perf_counter() - began
    every = list(decisions())
    chosen = [d for d in every if d.chosen]
    cut = int(len(chosen) * args.train_share)
    train, held_out = chosen[:cut], chosen[cut:]

    honest = agreement(every)
    inflated = (honest.kept + honest.applied) / (honest.decided + honest.applied)
    print(
        f"history: {args.sessions} sessions in {built:.0f} s; {counts['chosen']} marked by hand, "
        f"{counts['applied']} accepted as suggested"
    )
    print(
        f"agreement: {honest.rate:.1%} of {honest.decided} chosen statuses kept the suggestion; "
        f"counting the {honest.applied} applied ones as agreement would say {inflated:.1%}"
    )

    settings.ATTENDANCE_CALIBRATION_MIN_DECISIONS = min(200, len(train) // 2)
    report = calibration_fit(rows=train)
    for fit in report.fits:
        print(
            f"fit {fit.role}: n={fit.sample_size} fitted={fit.fitted} "
            f"Brier on the fit's data: rule {fit.brier_before:.4f}, calibrated (cross-validated) "
            f"{fit.brier_after if fit.brier_after is None else round(fit.brier_after, 4)}"
        )
    calibrator = calibration_current()

    print()
    print(f"held out: the last {1 - args.train_share:.0%} of decisions by time, never seen by the fit")
    table(held_out, lambda rows: scores(rows, calibrator))

    # Every decision held out once: the history cut into blocks of time, each scored by a fit on the others.
    blocks = [chosen[i * len(chosen) // args.folds : (i + 1) * len(chosen) // args.folds] for i in range(args.folds)]
    predicted: dict[int, float] = {}
    for i, block in enumerate(blocks):
        calibration_fit(rows=[d for j, other in enumerate(blocks) if j != i for d in other])
        fold = calibration_current()
        for d in block:
            predicted[id(d)] = fold.confidence(role=d.role, status=d.suggested, confidence=d.confidence)
    print()
    print(f"{args.folds}-fold over time: each decision scored by a fit that never saw it")
    table(chosen, lambda rows: scores(rows, after=[predicted[id(d)] for d in rows]))
    print()
    print("known keep rates (student, at full confidence):", ", ".join(f"{k} {v:.0%}" for k, v in KEEP_RATE.items()))
    print(f"total {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
