"""The board's one-statement path on PostgreSQL (whiteboard/board_fastpath.py) changes no result: each trace,
run once as it is and once with the fast statements turned off (the ORM path, as on SQLite), gives the same
answers, the same refusals, the same stroke rows and the same board row. And the fast path is taken."""

from datetime import timedelta

import pytest

from core.errors import DomainError
from tests.conftest import T0
from tests.factories import UserFactory
from whiteboard import board, board_fastpath
from whiteboard.models import Board, BoardStroke

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]  # the fast path is PostgreSQL's

STYLE = {"tool": "pen", "colour": "#1f2937", "width": 3}


def at(seconds: float):
    return T0 + timedelta(seconds=seconds)


def run(trace, session, people) -> list:
    """Each step's answer (or refusal code); `people` names the users."""
    wid, answers = session.whiteboard_id, []
    for step in trace:
        kind, who, t, *rest = step
        user = people[who]
        try:
            if kind == "begin":
                (points,) = rest
                event = board.board_stroke_begin(whiteboard_id=wid, user=user, points=points, now=at(t), **STYLE)
            elif kind == "eraser":
                (points,) = rest
                event = board.board_stroke_begin(
                    whiteboard_id=wid, user=user, points=points, now=at(t), tool="eraser", colour="#ffffff", width=20
                )
            elif kind == "append":
                sequence, points, seconds, end = rest
                event = board.board_stroke_append(
                    whiteboard_id=wid, user=user, sequence=sequence, points=points, now=at(t), seconds=seconds, end=end
                )
            elif kind == "undo":
                event = board.board_undo(whiteboard_id=wid, user=user, now=at(t))
            elif kind == "clear":
                event = board.board_clear(whiteboard_id=wid, user=user, now=at(t))
            answers.append(event)
        except DomainError as error:
            answers.append(error.code)
    return answers


def stored(session) -> tuple:
    strokes = list(
        BoardStroke.objects.filter(whiteboard_id=session.whiteboard_id)
        .order_by("sequence")
        .values_list("author_id", "role", "sequence", "tool", "colour", "width", "points", "started_at", "recorded_at")
    )
    ends = list(
        BoardStroke.objects.filter(whiteboard_id=session.whiteboard_id)
        .order_by("sequence")
        .values_list("ended_at", "undone_at")
    )
    row = Board.objects.filter(pk=session.whiteboard_id).values().first()
    return strokes, ends, row


T = int(T0.timestamp())

TRACES = {
    "both draw, batches over several seconds, ends with and without points": [
        ("begin", "tutor", 0, [1, 2]),
        ("append", "tutor", 0.5, 1, [3, 4, 5, 6], [T], False),
        ("begin", "student", 0.7, [7, 8]),
        ("append", "tutor", 1.2, 1, [9, 10], [T, T + 1], False),
        ("append", "student", 2.0, 2, [11, 12], [T + 2], True),
        ("append", "tutor", 4.0, 1, [], None, True),
        ("begin", "tutor", 4.5, []),  # no points: a stroke, no drawing second
        ("append", "tutor", 6.0, 3, [1, 1], [T + 3, T + 5, T + 6], True),
        ("eraser", "student", 6.5, [5, 5, 6, 6]),
    ],
    "refusals: someone else's stroke, an ended one, too long, an outsider, the board full": [
        ("begin", "tutor", 0, [1, 2]),
        ("append", "student", 0.1, 1, [3, 4], None, False),  # not the author
        ("append", "tutor", 0.2, 9, [3, 4], None, False),  # no such stroke
        ("append", "tutor", 0.3, 1, [0] * 8, None, False),  # 2 + 8 numbers: over MAX_POINTS (5)
        ("append", "tutor", 0.4, 1, [0] * 6, None, True),  # exactly the limit, and the end
        ("append", "tutor", 0.5, 1, [1, 1], None, False),  # ended
        ("begin", "outsider", 0.6, [1, 1]),
        ("begin", "student", 0.7, []),
        ("begin", "student", 0.8, [2, 2]),  # the fourth stroke: the board (MAX_STROKES 3) is full
        ("undo", "student", 1.0),
        ("begin", "student", 1.1, [3, 3]),  # undo does not free a place; full still
    ],
    "undo and clear between strokes": [
        ("begin", "student", 0, [1, 1]),
        ("append", "student", 0.5, 1, [2, 2], None, True),
        ("clear", "tutor", 1.0),
        ("begin", "tutor", 1.5, [3, 3]),
        ("undo", "tutor", 2.0),
        ("append", "tutor", 2.5, 3, [4, 4], None, False),  # undone: refused
        ("begin", "tutor", 3.0, [5, 5]),
    ],
}


@pytest.fixture
def people(tutor, student):
    return {"tutor": tutor, "student": student, "outsider": UserFactory(username="oscar_outsider")}


@pytest.mark.parametrize("name", TRACES)
def test_the_fast_path_gives_what_the_orm_path_gives(name, session, people, settings, monkeypatch, on_postgres):
    if not on_postgres:
        pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://...); running on SQLite")
    settings.BOARD = {**settings.BOARD, "MAX_POINTS": 5, "MAX_STROKES": 3}
    taken = []
    for name_, func in (("stroke_begin", board_fastpath.stroke_begin), ("stroke_append", board_fastpath.stroke_append)):
        monkeypatch.setattr(
            board_fastpath, name_, lambda func=func, name_=name_, **kw: taken.append((name_, out := func(**kw))) or out
        )
    fast = run(TRACES[name], session, people), stored(session)
    assert any(out is not None for _, out in taken)  # the fast statements did the common steps
    BoardStroke.objects.filter(whiteboard_id=session.whiteboard_id).delete()
    board.BoardClear.objects.filter(whiteboard_id=session.whiteboard_id).delete()
    Board.objects.filter(pk=session.whiteboard_id).delete()
    monkeypatch.setattr(board_fastpath, "usable", lambda: False)
    slow = run(TRACES[name], session, people), stored(session)
    assert fast == slow


def test_the_common_steps_take_one_statement_each(session, tutor, on_postgres, django_assert_num_queries):
    if not on_postgres:
        pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://...); running on SQLite")
    first = board.board_stroke_begin(whiteboard_id=session.whiteboard_id, user=tutor, points=[1, 1], now=T0, **STYLE)
    with django_assert_num_queries(1):
        second = board.board_stroke_begin(
            whiteboard_id=session.whiteboard_id, user=tutor, points=[1, 1], now=at(1), **STYLE
        )
    with django_assert_num_queries(1):
        board.board_stroke_append(
            whiteboard_id=session.whiteboard_id, user=tutor, sequence=second.sequence, points=[2, 2], now=at(2)
        )
    with django_assert_num_queries(1):
        board.board_stroke_end(whiteboard_id=session.whiteboard_id, user=tutor, sequence=second.sequence, now=at(3))
    assert (first.sequence, second.sequence) == (1, 2)
    assert BoardStroke.objects.get(sequence=2).points == [1, 1, 2, 2]
