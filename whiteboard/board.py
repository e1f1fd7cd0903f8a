"""The shared drawing board (issue 16): strokes begun, streamed in batches, ended; undo, clear, replay.

Every door (the presence socket, the read-only HTTP view) calls these; none writes a stroke itself.
Times are the server's (`now`, default the clock): nothing a client says about time is stored.

- A stroke is one row (`BoardStroke`) whose points grow batch by batch; its sequence number, handed
  out under the board's lock (`Board`), is the replay order and the name clients use for it.
- Undo marks the author's last live stroke `undone_at` rather than deleting it, and a clear is a
  row of its own (`BoardClear`) taking a place in the sequence: the sequence stays gap-free and
  meaningful to every client that already drew those strokes, replay is "live strokes after the
  last clear", and what was drawn stays on record until retention deletes the whiteboard's strokes
  (one `DELETE ... WHERE whiteboard_id IN (...)`, no other table points at a stroke).
- Engagement (seconds in which a participant drew, strokes begun) is counted as points arrive, on
  the board row (`board_engagement`), so reading it costs nothing per stroke.

Malformed input raises `DomainError("malformed")` before anything is written; limits raise their own
codes (`stroke_too_long`, `board_full`); a refused call changes nothing (one transaction each).
"""

import math
import re
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db import connection as db
from django.db.models import F, Q
from django.utils import timezone

from core.errors import DomainError
from whiteboard import board_fastpath
from whiteboard.models import Board, BoardClear, BoardStroke, BoardTool, Role, WhiteboardSession

BOARD_WIDTH = 1000  # board units across; y uses the same scale, so a board keeps its shape on every screen
MAX_COORDINATE = 100_000
MAX_WIDTH = 50
_COLOUR = re.compile(r"^#[0-9a-f]{6}$")


@dataclass(frozen=True)
class StrokeEvent:
    """What happened to one stroke, for the author's answer and the other participant's live board."""

    sequence: int
    role: str
    points: list[float]
    offset: int = 0  # where `points` start in the stroke's flat list: a client that already has them skips them
    ended: bool = False


# --- validation -------------------------------------------------------------------------------------


def _malformed(detail: str) -> DomainError:
    return DomainError(detail, "malformed")


def board_points(value) -> list[float]:
    """Validated points: a flat list of finite numbers x, y, x, y, ... inside the board's range."""
    if type(value) is not list or len(value) % 2:
        raise _malformed("points must be a flat list [x0, y0, x1, y1, ...].")
    for number in value:
        if type(number) not in (int, float) or not math.isfinite(number) or not 0 <= number <= MAX_COORDINATE:
            raise _malformed(f"points must be numbers from 0 to {MAX_COORDINATE}.")
    return value


def board_style(*, tool, colour, width) -> tuple[str, str, int]:
    if tool not in BoardTool.values:
        raise _malformed("tool must be pen or eraser.")
    if type(colour) is not str or not _COLOUR.match(colour):
        raise _malformed("colour must be #rrggbb (lower case).")
    if type(width) is not int or not 1 <= width <= MAX_WIDTH:
        raise _malformed(f"width must be a whole number from 1 to {MAX_WIDTH}.")
    return tool, colour, width


def check_length(count: int) -> None:
    """DomainError("stroke_too_long") when a stroke would have more than BOARD["MAX_POINTS"] points (`count` numbers)."""
    limit = settings.BOARD["MAX_POINTS"]
    if count > 2 * limit:
        raise DomainError(f"A stroke has at most {limit} points; end it and begin another.", "stroke_too_long")


# --- participants -----------------------------------------------------------------------------------


def board_role(*, whiteboard_id: int, user) -> str:
    """The user's role on this whiteboard's session; DomainError("not_found") for anyone else (staff too)."""
    session = (
        WhiteboardSession.objects.filter(pk=whiteboard_id)
        .values_list("tutoring_session__tutor_id", "tutoring_session__student_id")
        .first()
    )
    if session is None or user.pk not in session:
        raise DomainError("Not a participant of this whiteboard session.", "not_found")
    return Role.TUTOR if session[0] == user.pk else Role.STUDENT


def _commit_without_waiting() -> None:
    """In a board write's transaction, on PostgreSQL: its commit does not wait for the WAL flush.

    Drawing is many small transactions (a stroke's begin and end, a write a second while it lasts), and
    bench/board_bench.py showed them queueing behind the disk, not the CPU. The price: a database crash
    may lose the last fraction of a second of strokes, never corrupt them (the presence fast path makes
    the same trade, whiteboard/fastpath.py); a dying node loses up to a second of them anyway.
    """
    if db.vendor == "postgresql":
        with db.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _locked_board(whiteboard_id: int) -> Board:
    """The board row, locked (created with the first stroke): its sequence and stroke count are decided under it."""
    board = Board.objects.select_for_update().filter(pk=whiteboard_id).first()
    if board is None:
        try:
            with transaction.atomic():
                Board.objects.create(pk=whiteboard_id)
        except IntegrityError:
            pass  # created meanwhile by the other participant's first stroke
        board = Board.objects.select_for_update().get(pk=whiteboard_id)
    return board


def _count_drawing(whiteboard_id: int, role: str, second: int) -> None:
    """Count a server second (Unix time) as one in which `role` drew, unless it is already counted.

    One conditional UPDATE, no lock: batches arrive in server-time order, so a second is counted
    when it is later than the last counted one (two tabs drawing in the same second count once).
    """
    last = f"{role}_last_drawing_second"
    Board.objects.filter(Q(**{f"{last}__lt": second}) | Q(**{f"{last}__isnull": True}), pk=whiteboard_id).update(
        **{f"{role}_drawing_seconds": F(f"{role}_drawing_seconds") + 1, last: second}
    )


# --- strokes ----------------------------------------------------------------------------------------


def board_stroke_begin(
    *,
    whiteboard_id: int,
    user,
    tool: str,
    colour: str,
    width: int,
    points: list | None = None,
    now: datetime | None = None,
) -> StrokeEvent:
    """Begin a stroke (optionally with its first points); returns its sequence number."""
    now = now or timezone.now()
    tool, colour, width = board_style(tool=tool, colour=colour, width=width)
    points = board_points(points if points is not None else [])
    check_length(len(points))
    if board_fastpath.usable():  # the common case in one statement; anything else is decided below
        begun = board_fastpath.stroke_begin(
            whiteboard_id=whiteboard_id,
            user_id=user.pk,
            tool=tool,
            colour=colour,
            width=width,
            points=points,
            now=now,
            max_strokes=settings.BOARD["MAX_STROKES"],
        )
        if begun is not None:
            return StrokeEvent(sequence=begun[0], role=begun[1], points=points)
    role = board_role(whiteboard_id=whiteboard_id, user=user)
    with transaction.atomic():
        _commit_without_waiting()
        board = _locked_board(whiteboard_id)
        if board.stroke_count >= settings.BOARD["MAX_STROKES"]:
            raise DomainError(
                f"This board is full: it keeps at most {board.stroke_count} strokes, cleared and undone ones included.",
                "board_full",
            )
        sequence = board.last_sequence + 1
        BoardStroke.objects.create(
            whiteboard_id=whiteboard_id,
            author=user,
            role=role,
            sequence=sequence,
            tool=tool,
            colour=colour,
            width=width,
            points=points,
            started_at=now,
            recorded_at=now,
        )
        changes = {"last_sequence": sequence, "stroke_count": F("stroke_count") + 1}
        changes[f"{role}_strokes"] = F(f"{role}_strokes") + 1
        second, last = int(now.timestamp()), getattr(board, f"{role}_last_drawing_second")
        if points and (last is None or second > last):  # as `_count_drawing`, in the same UPDATE (the row is locked)
            changes |= {
                f"{role}_drawing_seconds": F(f"{role}_drawing_seconds") + 1,
                f"{role}_last_drawing_second": second,
            }
        Board.objects.filter(pk=whiteboard_id).update(**changes)
    return StrokeEvent(sequence=sequence, role=role, points=points)


def board_stroke_append(
    *,
    whiteboard_id: int,
    user,
    sequence: int,
    points: list,
    end: bool = False,
    now: datetime | None = None,
    seconds: list[int] | None = None,
) -> StrokeEvent:
    """Add points to the user's own stroke that is still being drawn; `end` ends it after them.

    `seconds`: the server seconds (Unix time) in which these points arrived, when they were gathered
    over a while (the socket writes about once a second); default `now`'s. Counted as drawing time."""
    now = now or timezone.now()
    points = board_points(points)
    if type(sequence) is not int:
        raise _malformed("sequence must be a number.")
    seconds = sorted(set(seconds or [int(now.timestamp())]))
    if board_fastpath.usable():  # the common case in one statement; anything else is decided below
        written = board_fastpath.stroke_append(
            whiteboard_id=whiteboard_id,
            user_id=user.pk,
            sequence=sequence,
            points=points,
            end=end,
            seconds=seconds,
            now=now,
            max_numbers=2 * settings.BOARD["MAX_POINTS"],
        )
        if written is not None:
            return StrokeEvent(sequence=sequence, role=written[0], points=points, offset=written[1], ended=end)
    with transaction.atomic():
        _commit_without_waiting()
        # Locked: two batches of one stroke (a retried message) must not both read the old points.
        stroke = (
            BoardStroke.objects.select_for_update()
            .filter(whiteboard_id=whiteboard_id, sequence=sequence, author_id=user.pk)
            .only("pk", "role", "points", "ended_at", "undone_at")
            .first()
        )
        if stroke is None:
            raise DomainError("No such stroke of yours on this board.", "no_stroke")
        if stroke.ended_at is not None or stroke.undone_at is not None:
            raise DomainError("That stroke has ended; begin another.", "stroke_ended")
        check_length(len(stroke.points) + len(points))
        offset = len(stroke.points)
        fields = ["recorded_at"]
        stroke.recorded_at = now
        if points:
            stroke.points = stroke.points + points
            fields.append("points")
        if end:
            stroke.ended_at = now
            fields.append("ended_at")
        stroke.save(update_fields=fields)
        if points:
            for second in seconds:
                _count_drawing(whiteboard_id, stroke.role, second)
    return StrokeEvent(sequence=sequence, role=stroke.role, points=points, offset=offset, ended=end)


def board_stroke_end(*, whiteboard_id: int, user, sequence: int, now: datetime | None = None) -> StrokeEvent:
    return board_stroke_append(whiteboard_id=whiteboard_id, user=user, sequence=sequence, points=[], end=True, now=now)


def board_undo(*, whiteboard_id: int, user, now: datetime | None = None) -> int:
    """Undo the user's own last stroke still on the board (not undone, not cleared); returns its sequence."""
    now = now or timezone.now()
    board_role(whiteboard_id=whiteboard_id, user=user)
    with transaction.atomic():
        board = _locked_board(whiteboard_id)
        stroke = (
            BoardStroke.objects.filter(
                whiteboard_id=whiteboard_id,
                author_id=user.pk,
                undone_at__isnull=True,
                sequence__gt=board.cleared_through,
            )
            .order_by("-sequence")
            .only("pk", "sequence")
            .first()
        )
        if stroke is None:
            raise DomainError("You have no stroke on the board to undo.", "nothing_to_undo")
        BoardStroke.objects.filter(pk=stroke.pk).update(undone_at=now)
    return stroke.sequence


def board_clear(*, whiteboard_id: int, user, now: datetime | None = None) -> int:
    """Clear the board (its tutor only): a `BoardClear` takes the next sequence number; returns it."""
    now = now or timezone.now()
    if board_role(whiteboard_id=whiteboard_id, user=user) != Role.TUTOR:
        raise DomainError("Only the tutor can clear the board.", "permission_denied")
    with transaction.atomic():
        board = _locked_board(whiteboard_id)
        sequence = board.last_sequence + 1
        BoardClear.objects.create(whiteboard_id=whiteboard_id, by=user, sequence=sequence, cleared_at=now)
        Board.objects.filter(pk=whiteboard_id).update(last_sequence=sequence, cleared_through=sequence)
    return sequence


# --- reading ----------------------------------------------------------------------------------------


def board_replay(*, whiteboard_id: int, after: int = 0, limit: int | None = None) -> dict:
    """The board as it stands: live strokes (not undone, after the last clear) in sequence order, a page
    at a time (`after` the last sequence already read). `last_sequence` lets a client drop live events
    it already has. Readers (participants' sockets, staff's read-only view) call this; nothing is written.
    """
    limit = limit or settings.BOARD["REPLAY_PAGE"]
    board = Board.objects.filter(pk=whiteboard_id).values("last_sequence", "cleared_through").first()
    board = board or {"last_sequence": 0, "cleared_through": 0}
    rows = list(
        BoardStroke.objects.filter(
            whiteboard_id=whiteboard_id, undone_at__isnull=True, sequence__gt=max(after, board["cleared_through"])
        )
        .order_by("sequence")
        .values_list("sequence", "role", "tool", "colour", "width", "points", "ended_at")[: limit + 1]
    )
    more = len(rows) > limit
    strokes = [
        {
            "sequence": sequence,
            "role": role,
            "tool": tool,
            "colour": colour,
            "width": width,
            "points": points,
            "ended": ended_at is not None,
        }
        for sequence, role, tool, colour, width, points, ended_at in rows[:limit]
    ]
    return {
        "strokes": strokes,
        "cleared_through": board["cleared_through"],
        "last_sequence": board["last_sequence"],
        "next_after": strokes[-1]["sequence"] if more else None,
    }


@dataclass(frozen=True)
class Engagement:
    """How much one participant drew: distinct server-time seconds in which their points arrived, strokes begun."""

    drawing_seconds: int | None = None  # None: nobody has drawn on this board (no evidence either way)
    strokes: int = 0


def board_engagement(*, whiteboard: WhiteboardSession) -> dict[str, Engagement]:
    """Each participant's engagement; reads `whiteboard.board` (select_related("board") for no extra query)."""
    try:
        board = whiteboard.board
    except Board.DoesNotExist:
        board = None
    if board is None:
        return {role: Engagement() for role in Role.values}
    return {
        role: Engagement(
            drawing_seconds=getattr(board, f"{role}_drawing_seconds"),
            strokes=getattr(board, f"{role}_strokes"),
        )
        for role in Role.values
    }
