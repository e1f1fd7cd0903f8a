"""The board's rules (whiteboard/board.py): strokes, limits, undo, clear, replay, engagement, the database's checks."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction

from core.errors import DomainError
from tests.conftest import T0
from whiteboard import board
from whiteboard.models import Board, BoardStroke

pytestmark = pytest.mark.django_db


def begin(session, user, points=(10, 10), now=T0, **style):
    style = {"tool": "pen", "colour": "#1f2937", "width": 3, **style}
    return board.board_stroke_begin(
        whiteboard_id=session.whiteboard_id, user=user, points=list(points), now=now, **style
    )


def test_strokes_take_consecutive_sequence_numbers_and_replay_in_order(session, tutor, student):
    first = begin(session, tutor)
    second = begin(session, student, tool="eraser", colour="#ffffff", width=20)
    board.board_stroke_append(whiteboard_id=session.whiteboard_id, user=tutor, sequence=first.sequence, points=[20, 20])
    board.board_stroke_end(whiteboard_id=session.whiteboard_id, user=tutor, sequence=first.sequence)
    replay = board.board_replay(whiteboard_id=session.whiteboard_id)
    assert [(s["sequence"], s["role"], s["tool"], s["ended"]) for s in replay["strokes"]] == [
        (1, "tutor", "pen", True),
        (2, "student", "eraser", False),
    ]
    assert replay["strokes"][0]["points"] == [10, 10, 20, 20]
    assert (first.sequence, second.sequence) == (1, 2) and replay["last_sequence"] == 2


def test_replay_pages_follow_the_sequence(session, tutor):
    for _ in range(5):
        begin(session, tutor)
    page = board.board_replay(whiteboard_id=session.whiteboard_id, limit=2)
    assert [s["sequence"] for s in page["strokes"]] == [1, 2] and page["next_after"] == 2
    page = board.board_replay(whiteboard_id=session.whiteboard_id, after=4, limit=2)
    assert [s["sequence"] for s in page["strokes"]] == [5] and page["next_after"] is None


def test_a_stroke_is_stored_with_server_time(session, tutor):
    stroke = begin(session, tutor, now=T0)
    board.board_stroke_append(
        whiteboard_id=session.whiteboard_id,
        user=tutor,
        sequence=stroke.sequence,
        points=[1, 1],
        end=True,
        now=T0 + timedelta(seconds=2),
    )
    row = BoardStroke.objects.get()
    assert row.started_at == T0 and row.recorded_at == row.ended_at == T0 + timedelta(seconds=2)


def test_only_the_author_appends_to_a_stroke_and_not_after_its_end(session, tutor, student):
    stroke = begin(session, tutor)
    with pytest.raises(DomainError) as error:
        board.board_stroke_append(
            whiteboard_id=session.whiteboard_id, user=student, sequence=stroke.sequence, points=[1, 1]
        )
    assert error.value.code == "no_stroke"
    board.board_stroke_end(whiteboard_id=session.whiteboard_id, user=tutor, sequence=stroke.sequence)
    with pytest.raises(DomainError) as error:
        board.board_stroke_append(
            whiteboard_id=session.whiteboard_id, user=tutor, sequence=stroke.sequence, points=[1, 1]
        )
    assert error.value.code == "stroke_ended"


@pytest.mark.parametrize(
    "points, style",
    [
        ([1], {}),
        ([1, "2"], {}),
        ([1, float("nan")], {}),
        ([1, -1], {}),
        ("1,2", {}),
        ([1, 2], {"tool": "spray"}),
        ([1, 2], {"colour": "red"}),
        ([1, 2], {"width": 0}),
        ([1, 2], {"width": 2.5}),
        ([1, 2], {"width": True}),
    ],
)
def test_malformed_strokes_are_refused_and_nothing_is_stored(session, tutor, points, style):
    with pytest.raises(DomainError) as error:
        begin(session, tutor, points=points, **style)
    assert error.value.code == "malformed"
    assert not BoardStroke.objects.exists() and not Board.objects.exists()


def test_a_stroke_has_at_most_max_points(session, tutor, settings):
    settings.BOARD = {**settings.BOARD, "MAX_POINTS": 3}
    stroke = begin(session, tutor, points=[1, 1, 2, 2])
    with pytest.raises(DomainError) as error:
        board.board_stroke_append(
            whiteboard_id=session.whiteboard_id, user=tutor, sequence=stroke.sequence, points=[3, 3, 4, 4]
        )
    assert error.value.code == "stroke_too_long"
    assert BoardStroke.objects.get().points == [1, 1, 2, 2]  # unchanged
    board.board_stroke_append(whiteboard_id=session.whiteboard_id, user=tutor, sequence=stroke.sequence, points=[3, 3])


def test_a_board_has_at_most_max_strokes(session, tutor, settings):
    settings.BOARD = {**settings.BOARD, "MAX_STROKES": 2}
    begin(session, tutor)
    begin(session, tutor)
    with pytest.raises(DomainError) as error:
        begin(session, tutor)
    assert error.value.code == "board_full"
    assert BoardStroke.objects.count() == 2 and Board.objects.get().last_sequence == 2


def test_outsiders_and_staff_cannot_draw(session, other_tutor, staff):
    for user in (other_tutor, staff):
        with pytest.raises(DomainError) as error:
            begin(session, user)
        assert error.value.code == "not_found"
    assert not BoardStroke.objects.exists()


def test_undo_takes_back_ones_own_last_stroke_only(session, tutor, student):
    begin(session, tutor)
    begin(session, tutor)
    begin(session, student)
    assert board.board_undo(whiteboard_id=session.whiteboard_id, user=tutor) == 2
    assert board.board_undo(whiteboard_id=session.whiteboard_id, user=tutor) == 1
    with pytest.raises(DomainError) as error:
        board.board_undo(whiteboard_id=session.whiteboard_id, user=tutor)
    assert error.value.code == "nothing_to_undo"
    assert [s["sequence"] for s in board.board_replay(whiteboard_id=session.whiteboard_id)["strokes"]] == [3]
    assert BoardStroke.objects.count() == 3  # undone strokes stay on record


def test_only_the_tutor_clears_and_replay_starts_after_the_clear(session, tutor, student):
    begin(session, tutor)
    begin(session, student)
    with pytest.raises(DomainError) as error:
        board.board_clear(whiteboard_id=session.whiteboard_id, user=student)
    assert error.value.code == "permission_denied"
    assert len(board.board_replay(whiteboard_id=session.whiteboard_id)["strokes"]) == 2
    assert board.board_clear(whiteboard_id=session.whiteboard_id, user=tutor) == 3
    begin(session, student)
    replay = board.board_replay(whiteboard_id=session.whiteboard_id)
    assert [s["sequence"] for s in replay["strokes"]] == [4] and replay["cleared_through"] == 3
    with pytest.raises(DomainError):
        board.board_undo(whiteboard_id=session.whiteboard_id, user=tutor)  # cleared strokes cannot come back


def test_engagement_counts_distinct_server_seconds_with_points_and_strokes(session, tutor, student):
    stroke = begin(session, student, now=T0)
    for offset in (0.05, 0.5, 0.95, 1.2, 3.0):  # seconds T0, T0, T0, T0+1, T0+3
        board.board_stroke_append(
            whiteboard_id=session.whiteboard_id,
            user=student,
            sequence=stroke.sequence,
            points=[1, 1],
            now=T0 + timedelta(seconds=offset),
        )
    board.board_stroke_end(
        whiteboard_id=session.whiteboard_id, user=student, sequence=stroke.sequence, now=T0 + timedelta(seconds=9)
    )  # no points: not drawing
    begin(session, student, now=T0 + timedelta(seconds=3.5))  # same second as the last batch
    session.whiteboard.refresh_from_db()
    engagement = board.board_engagement(whiteboard=session.whiteboard)
    assert engagement["student"] == board.Engagement(drawing_seconds=3, strokes=2)
    assert engagement["tutor"] == board.Engagement(drawing_seconds=0)


def test_the_database_refuses_a_bad_stroke(session, tutor):
    good = {
        "whiteboard_id": session.whiteboard_id,
        "author": tutor,
        "role": "tutor",
        "sequence": 1,
        "started_at": T0,
        "recorded_at": T0,
    }
    for bad in ({"tool": "spray"}, {"colour": "red"}, {"width": 0}, {"sequence": 0}, {"role": "parent"}):
        with pytest.raises(IntegrityError), transaction.atomic():
            BoardStroke.objects.create(**{**good, **bad})
    BoardStroke.objects.create(**good)
    with pytest.raises(IntegrityError), transaction.atomic():
        BoardStroke.objects.create(**good)  # one sequence number per board


@pytest.mark.django_db(transaction=True)
def test_a_board_write_commits_without_waiting_for_the_flush_only_itself(session, tutor, on_postgres):
    if not on_postgres:
        pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://...); running on SQLite")
    from django.db import connection

    def synchronous_commit() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    with transaction.atomic():
        stroke = begin(session, tutor)
        assert synchronous_commit() == "off"  # for the rest of the transaction the write is part of
    assert synchronous_commit() == "on"  # and no longer
    board.board_stroke_end(whiteboard_id=session.whiteboard_id, user=tutor, sequence=stroke.sequence)
    assert synchronous_commit() == "on"
