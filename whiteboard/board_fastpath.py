"""The shared board's hand-written SQL on PostgreSQL: a stroke's begin, and a batch of its points (or its
end), each in one statement (one round trip) instead of the ORM path's six or seven.

Why: bench/board_bench.py measured rooms drawing at a human pace limited by the server's CPU per board
message, most of it the begin and end transactions (role query, SET LOCAL, the board's lock, INSERT,
UPDATE, BEGIN, COMMIT, each a round trip through the ORM). The rules stay in `whiteboard.board`: these
statements only do what it decided, on the common case (a participant, a board that exists and is not
full; their own open stroke within its length). Anything else (not a participant, no board yet, board
full, someone else's or an ended stroke, too long) writes nothing here and answers None, and the caller
takes the ORM path, which decides and refuses exactly as before. tests/whiteboard/test_board_fastpath.py
holds both paths equal, row for row, on the same traces.

Each statement runs in its own transaction (or the caller's) and commits without waiting for the WAL flush
(`set_config('synchronous_commit', 'off', true)` evaluated in its RETURNING, as the heartbeat's fast
statement does, whiteboard/fastpath.py): the same trade as `board._commit_without_waiting`.
"""

import json
import time
from datetime import datetime

from django.db import connection as db

from whiteboard.fastpath import _prepared_cursor

# The role is the session's, as `board.board_role` decides it (the tutor wins when one person is both).
# The board row's UPDATE locks it (as `_locked_board` does) and hands out the next sequence; a
# concurrent begin waits for it and then sees the new counter (READ COMMITTED re-reads the row).
_BEGIN = """
WITH who AS (
  SELECT CASE WHEN s.tutor_id = %(user)s THEN 'tutor' ELSE 'student' END AS role
  FROM sessions s
  WHERE s.whiteboard_id = %(whiteboard)s AND (s.tutor_id = %(user)s OR s.student_id = %(user)s)
), counted AS (
  UPDATE whiteboard_boards b SET
    last_sequence = b.last_sequence + 1,
    stroke_count = b.stroke_count + 1,
    tutor_strokes = b.tutor_strokes + (who.role = 'tutor')::int,
    student_strokes = b.student_strokes + (who.role = 'student')::int,
    tutor_drawing_seconds = b.tutor_drawing_seconds + CASE WHEN who.role = 'tutor' AND %(drew)s
      AND (b.tutor_last_drawing_second IS NULL OR b.tutor_last_drawing_second < %(second)s) THEN 1 ELSE 0 END,
    tutor_last_drawing_second = CASE WHEN who.role = 'tutor' AND %(drew)s
      AND (b.tutor_last_drawing_second IS NULL OR b.tutor_last_drawing_second < %(second)s)
      THEN %(second)s ELSE b.tutor_last_drawing_second END,
    student_drawing_seconds = b.student_drawing_seconds + CASE WHEN who.role = 'student' AND %(drew)s
      AND (b.student_last_drawing_second IS NULL OR b.student_last_drawing_second < %(second)s) THEN 1 ELSE 0 END,
    student_last_drawing_second = CASE WHEN who.role = 'student' AND %(drew)s
      AND (b.student_last_drawing_second IS NULL OR b.student_last_drawing_second < %(second)s)
      THEN %(second)s ELSE b.student_last_drawing_second END
  FROM who
  WHERE b.whiteboard_id = %(whiteboard)s AND b.stroke_count < %(max_strokes)s
  RETURNING b.last_sequence AS sequence, who.role AS role
), stroke AS (
  INSERT INTO whiteboard_strokes
    (whiteboard_id, author_id, role, sequence, tool, colour, width, points, started_at, recorded_at)
  SELECT %(whiteboard)s, %(user)s, role, sequence, %(tool)s, %(colour)s, %(width)s, %(points)s::jsonb, %(now)s, %(now)s
  FROM counted
  RETURNING sequence, role, set_config('synchronous_commit', 'off', true)
)
SELECT sequence, role FROM stroke
"""

# The author's own stroke, open, not undone, with room for the batch: locked by the UPDATE. The drawing
# seconds: those of the batch later than the last one counted (`board._count_drawing`, once per second
# in order, counts exactly these), the last one counted moving to the latest.
_APPEND = """
WITH stroke AS (
  UPDATE whiteboard_strokes SET
    points = points || %(points)s::jsonb,
    recorded_at = %(now)s,
    ended_at = CASE WHEN %(end)s THEN %(now)s ELSE ended_at END
  WHERE whiteboard_id = %(whiteboard)s AND sequence = %(sequence)s AND author_id = %(user)s
    AND ended_at IS NULL AND undone_at IS NULL
    AND jsonb_array_length(points) + %(count)s <= %(max_numbers)s
  RETURNING role, jsonb_array_length(points) - %(count)s AS offset_, set_config('synchronous_commit', 'off', true)
), seconds AS (
  SELECT unnest(%(seconds)s::bigint[]) AS second
), counted AS (
  UPDATE whiteboard_boards b SET
    tutor_drawing_seconds = b.tutor_drawing_seconds + CASE WHEN stroke.role = 'tutor' THEN
      (SELECT count(*) FROM seconds WHERE b.tutor_last_drawing_second IS NULL OR second > b.tutor_last_drawing_second)
      ELSE 0 END,
    tutor_last_drawing_second = CASE WHEN stroke.role = 'tutor' THEN
      GREATEST(b.tutor_last_drawing_second, (SELECT max(second) FROM seconds)) ELSE b.tutor_last_drawing_second END,
    student_drawing_seconds = b.student_drawing_seconds + CASE WHEN stroke.role = 'student' THEN
      (SELECT count(*) FROM seconds WHERE b.student_last_drawing_second IS NULL OR second > b.student_last_drawing_second)
      ELSE 0 END,
    student_last_drawing_second = CASE WHEN stroke.role = 'student' THEN
      GREATEST(b.student_last_drawing_second, (SELECT max(second) FROM seconds)) ELSE b.student_last_drawing_second END
  FROM stroke
  WHERE b.whiteboard_id = %(whiteboard)s AND %(count)s > 0
  RETURNING 1
)
SELECT role, offset_, (SELECT count(*) FROM counted) FROM stroke
"""


# A connection that answered a board statement this recently is not checked again first (Django's
# CONN_HEALTH_CHECKS sends a `SELECT 1` at the first query after every thread hop: a round trip for
# each board message that writes). The price: a database restarted within these seconds fails the one
# board message that finds its connection gone (the socket closes, the page reconnects and replays).
TRUSTED_SECONDS = 5.0


def _cursor():
    if (
        db.connection is not None
        and time.monotonic() - getattr(db, "board_answered_at", -TRUSTED_SECONDS) < TRUSTED_SECONDS
    ):
        db.health_check_done = True
    return _prepared_cursor()


def _answered() -> None:
    db.board_answered_at = time.monotonic()


def usable() -> bool:
    """On PostgreSQL. Inside a caller's transaction too: its commit then skips the flush, as the ORM path's
    `SET LOCAL` makes it (tests/whiteboard/test_board.py)."""
    return db.vendor == "postgresql"


def stroke_begin(
    *,
    whiteboard_id: int,
    user_id: int,
    tool: str,
    colour: str,
    width: int,
    points: list,
    now: datetime,
    max_strokes: int,
) -> tuple[int, str] | None:
    """(sequence, role) of the stroke begun; None when nothing was written (the ORM path decides why)."""
    params = {
        "whiteboard": whiteboard_id,
        "user": user_id,
        "drew": bool(points),
        "second": int(now.timestamp()),
        "max_strokes": max_strokes,
        "tool": tool,
        "colour": colour,
        "width": width,
        "points": json.dumps(points),
        "now": now,
    }
    with _cursor() as cursor:
        cursor.execute(_BEGIN, params)
        row = cursor.fetchone()
    _answered()
    return (row[0], row[1]) if row else None


def stroke_append(
    *,
    whiteboard_id: int,
    user_id: int,
    sequence: int,
    points: list,
    end: bool,
    seconds: list[int],
    now: datetime,
    max_numbers: int,
) -> tuple[str, int] | None:
    """(role, offset) of the batch written; None when nothing was written (the ORM path decides why)."""
    params = {
        "whiteboard": whiteboard_id,
        "user": user_id,
        "sequence": sequence,
        "points": json.dumps(points),
        "count": len(points),
        "end": end,
        "seconds": sorted(set(seconds)),
        "now": now,
        "max_numbers": max_numbers,
    }
    with _cursor() as cursor:
        cursor.execute(_APPEND, params)
        row = cursor.fetchone()
    _answered()
    return (row[0], row[1]) if row else None
