"""People and sessions in the bench database, made in bulk: participants for the load, and read-side people."""

from __future__ import annotations

import random
import secrets
import time
from datetime import timedelta

HIDDEN_SHARE = 10  # one participant in this many beats from a hidden tab


def participants(count: int) -> list[dict]:
    """`count`/2 running sessions with a whiteboard each, and a token per participant.

    Returns the participants as plain data for the driver (index, whiteboard_id, token, visibility),
    shuffled so that the tutor and the student of one whiteboard do not beat back to back."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from accounts.models import ApiToken, hash_token_key
    from accounts.services import TOKEN_PREFIX
    from attendance.models import TutoringSession
    from whiteboard.models import WhiteboardSession

    if count < 2 or count % 2:
        raise ValueError("participants must be an even number >= 2")
    user_model = get_user_model()
    password = make_password(None)  # unusable: these people only use tokens
    pairs = count // 2
    tutors = user_model.objects.bulk_create(
        [user_model(username=f"bench-tutor-{i}", password=password) for i in range(pairs)], batch_size=2000
    )
    students = user_model.objects.bulk_create(
        [user_model(username=f"bench-student-{i}", password=password) for i in range(pairs)], batch_size=2000
    )
    whiteboards = WhiteboardSession.objects.bulk_create([WhiteboardSession() for _ in range(pairs)], batch_size=2000)
    now = timezone.now()
    TutoringSession.objects.bulk_create(
        [
            TutoringSession(
                tutor=t,
                student=s,
                whiteboard=w,
                title="bench",
                scheduled_start=now - timedelta(minutes=5),
                scheduled_end=now + timedelta(hours=3),
            )
            for t, s, w in zip(tutors, students, whiteboards, strict=True)
        ],
        batch_size=2000,
    )
    # What accounts.services.token_issue does, in bulk: a random key, only its hash stored.
    result, tokens = [], []
    for i in range(pairs):
        for user in (tutors[i], students[i]):
            key = TOKEN_PREFIX + secrets.token_urlsafe(32)
            tokens.append(ApiToken(user=user, name="bench", prefix=key[:12], key_hash=hash_token_key(key)))
            index = len(result)
            result.append(
                {
                    "whiteboard_id": whiteboards[i].pk,
                    "token": key,
                    "visibility": "hidden" if index % HIDDEN_SHARE == HIDDEN_SHARE - 1 else "visible",
                }
            )
    ApiToken.objects.bulk_create(tokens, batch_size=2000)
    random.Random(5).shuffle(result)
    for index, p in enumerate(result):
        p["index"] = index
    return result


def suggestion_pair() -> tuple[object, object]:
    """A tutor and a student for the suggestion timings (their sessions are made per measurement)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    user_model = get_user_model()
    password = make_password(None)
    return (
        user_model.objects.create(username="bench-suggest-tutor", password=password),
        user_model.objects.create(username="bench-suggest-student", password=password),
    )


def dashboard_tutors(counts: list[int]) -> dict[int, object]:
    """For each count, a tutor with that many sessions spread over the dashboard's window, 50 students between them.

    Ended sessions have presence on their whiteboards; two in three are already marked by the tutor,
    the rest await a decision; one whiteboard in 25 has an open connection."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from accounts.services import token_issue
    from attendance.models import AttendanceSource, AttendanceStatus, TutoringSession
    from whiteboard.models import Connection, Role, WhiteboardSession
    from whiteboard.presence import span_totals

    user_model = get_user_model()
    password = make_password(None)
    students = user_model.objects.bulk_create(
        [user_model(username=f"bench-dash-student-{i}", password=password) for i in range(50)]
    )
    now = timezone.now()
    tutors = {}
    for count in sorted(set(counts)):
        tutor = user_model.objects.create(username=f"bench-dash-tutor-{count}", password=password)
        token_issue(user=tutor, name="bench dashboard")
        whiteboards = WhiteboardSession.objects.bulk_create([WhiteboardSession() for _ in range(count)])
        # Spread over the dashboard's window: 29 days back to 13 days ahead.
        first, step = now - timedelta(days=29), timedelta(days=42) / count
        sessions = []
        for k, whiteboard in enumerate(whiteboards):
            start = (first + k * step).replace(second=0, microsecond=0)
            end = start + timedelta(hours=1)
            session = TutoringSession(
                tutor=tutor,
                student=students[k % len(students)],
                whiteboard=whiteboard,
                title=f"Algebra {k}",
                scheduled_start=start,
                scheduled_end=end,
            )
            if end <= now:
                spans = [
                    {
                        "start": (start + timedelta(minutes=2)).isoformat(),
                        "end": (end - timedelta(minutes=1)).isoformat(),
                        "hidden": [],
                    }
                ]
                active, _ = span_totals(spans)
                for role in Role.values:
                    setattr(whiteboard, f"{role}_presence_spans", spans)
                    setattr(whiteboard, f"{role}_total_active_seconds", active)
                    setattr(whiteboard, f"{role}_connected_at", start + timedelta(minutes=2))
                    setattr(whiteboard, f"{role}_last_activity_at", end - timedelta(minutes=1))
                    setattr(whiteboard, f"{role}_disconnected_at", end - timedelta(minutes=1))
                if k % 3:  # two in three already marked by the tutor; the rest await a decision
                    session.attendance_source = AttendanceSource.MANUAL
                    session.tutor_attendance_status = session.student_attendance_status = AttendanceStatus.PRESENT
                    session.attendance_marked_by, session.attendance_marked_at = tutor, end
            sessions.append(session)
        WhiteboardSession.objects.bulk_update(
            [w for w in whiteboards if w.tutor_presence_spans],
            [
                f"{role}_{name}"
                for role in Role.values
                for name in (
                    "presence_spans",
                    "total_active_seconds",
                    "connected_at",
                    "last_activity_at",
                    "disconnected_at",
                )
            ],
            batch_size=500,
        )
        TutoringSession.objects.bulk_create(sessions)
        # Some open connections, so the dashboard's prefetch of live presence has rows to read.
        Connection.objects.bulk_create(
            [
                Connection(
                    whiteboard=w,
                    role=Role.TUTOR,
                    user=tutor,
                    opened_at=now,
                    last_signal_at=now,
                    expires_at=now + timedelta(seconds=45),
                )
                for w in whiteboards[::25]
            ]
        )
        tutors[count] = tutor
    return tutors


def prepare_heartbeat_bench(args) -> tuple[dict, str, list]:
    """What every heartbeat bench starts with: the machine's facts (printed, with a warning when it is
    busy), a migrated database and `args.participants` participants; returns (facts, db_url, participants)."""
    from bench.lib import database, machine, report

    facts = machine.facts(args.pg)
    report.print_machine(facts)
    report.warn_busy(machine.background_load(), facts["cores"])
    t0 = time.perf_counter()
    db_url = database.prepare(args)
    made = participants(args.participants)
    database.close_connections()
    print(
        f"Database {args.db_name}: migrated, {len(made):,} participants "
        f"({len(made) // 2:,} sessions with whiteboards and tokens) in {time.perf_counter() - t0:.1f} s"
    )
    return facts, db_url, made


def board_strokes(
    *, whiteboard_id: int, author_ids: tuple[int, int], count: int, points_avg: int, seed: int = 16
) -> int:
    """`count` finished strokes on one board (pen, some eraser), `points_avg` points each on average (random
    walks in board units), written in bulk as the board's services would have left them. Returns the points."""
    from django.utils import timezone

    from whiteboard.models import Board, BoardStroke

    rng = random.Random(seed)
    now = timezone.now()
    rows, total = [], 0
    for sequence in range(1, count + 1):
        n = rng.randint(max(2, points_avg // 2), points_avg + points_avg // 2)
        x, y, points = rng.uniform(50, 950), rng.uniform(50, 550), []
        for _ in range(n):
            x, y = min(999.0, max(0.0, x + rng.uniform(-8, 8))), min(999.0, max(0.0, y + rng.uniform(-8, 8)))
            points += [round(x, 1), round(y, 1)]
        total += n
        eraser = sequence % 25 == 0
        rows.append(
            BoardStroke(
                whiteboard_id=whiteboard_id,
                author_id=author_ids[sequence % 2],
                role="tutor" if sequence % 2 == 0 else "student",
                sequence=sequence,
                tool="eraser" if eraser else "pen",
                colour="#ffffff" if eraser else rng.choice(["#1f2937", "#3a47c5", "#d93a30", "#1f9d4c"]),
                width=20 if eraser else rng.choice([2, 4, 10]),
                points=points,
                started_at=now,
                recorded_at=now,
                ended_at=now,
            )
        )
    BoardStroke.objects.bulk_create(rows, batch_size=500)
    Board.objects.create(whiteboard_id=whiteboard_id, last_sequence=count, stroke_count=count)
    return total
