"""Engagement on the shared board (issue 16) in the suggestion's reasons and on the session page, never in the status."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from attendance.services import attendance_suggest
from attendance.suggestions import Evidence, Policy, Span, suggest_participant
from tests.conftest import T0
from tests.factories import TutoringSessionFactory, UserFactory
from tests.whiteboard.helpers import presence_trace
from whiteboard.board import board_stroke_append, board_stroke_begin

START = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)
END = START + timedelta(minutes=50)


def suggest(evidence: Evidence, now=END + timedelta(minutes=5)):
    return suggest_participant(scheduled_start=START, scheduled_end=END, evidence=evidence, now=now, policy=Policy())


@pytest.mark.parametrize(
    "spans",
    [
        (Span(START, END),),  # present
        (Span(START + timedelta(minutes=12), END),),  # late
        (Span(START, START + timedelta(minutes=20)),),  # left early
        (Span(START, START + timedelta(minutes=2)),),  # absent
    ],
)
def test_drawing_is_a_reason_but_never_changes_the_status_or_confidence(spans):
    plain = Evidence(spans=spans)
    drew = suggest(replace(plain, drawing_seconds=18 * 60, strokes=12))
    idle = suggest(replace(plain, drawing_seconds=0, strokes=0))
    without = suggest(plain)
    assert drew.status == idle.status == without.status
    assert drew.confidence == idle.confidence == without.confidence
    assert "drew for 18 of 50 scheduled minutes (12 strokes)" in drew.reasons
    assert "did not draw on the board" in idle.reasons
    assert not any("draw" in reason for reason in without.reasons)  # no board: nothing said


def test_while_running_the_drawing_is_out_of_the_elapsed_minutes():
    result = suggest(
        Evidence(
            spans=(Span(START, START + timedelta(minutes=20)),), connected_now=True, drawing_seconds=90, strokes=1
        ),
        now=START + timedelta(minutes=20),
    )
    assert "drew for 1.5 of 20 elapsed minutes (1 stroke)" in result.reasons


@pytest.mark.django_db
def test_the_session_page_shows_each_participants_drawing_next_to_presence(tutor, student, session, clock):
    presence_trace(session.whiteboard, tutor, T0, T0 + timedelta(hours=1))
    presence_trace(session.whiteboard, student, T0, T0 + timedelta(hours=1))
    stroke = board_stroke_begin(
        whiteboard_id=session.whiteboard_id, user=student, tool="pen", colour="#1f2937", width=3, points=[1, 1], now=T0
    )
    for second in range(1, 120):  # two minutes of drawing, a batch a second
        board_stroke_append(
            whiteboard_id=session.whiteboard_id,
            user=student,
            sequence=stroke.sequence,
            points=[second % 900, 2],
            now=T0 + timedelta(seconds=second),
        )
    clock.at(T0 + timedelta(hours=1, minutes=5))
    client = Client()
    client.force_login(tutor)
    html = client.get(f"/sessions/{session.pk}/").content.decode()
    assert 'data-testid="student-drawing">2 min<' in html and 'data-testid="student-strokes">1<' in html
    assert 'data-testid="tutor-drawing">0 s<' in html
    assert "drew for 2 of 60 scheduled minutes (1 stroke)" in html
    assert "did not draw on the board" in html  # the tutor
    session.refresh_from_db()
    session.whiteboard.refresh_from_db()
    assert attendance_suggest(session=session).student.status == "present"


@pytest.mark.django_db
def test_the_dashboard_reads_engagement_without_a_query_per_session(tutor, clock):
    clock.at(T0)

    def count_queries():
        client = Client()
        client.force_login(tutor)
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/").status_code == 200
        return len(queries)

    def add_sessions(n):
        for _ in range(n):
            student = UserFactory()
            session = TutoringSessionFactory(
                tutor=tutor,
                student=student,
                scheduled_start=T0 - timedelta(minutes=5),
                scheduled_end=T0 + timedelta(minutes=45),
            )
            presence_trace(session.whiteboard, student, T0 - timedelta(minutes=1), T0, disconnect=False)
            board_stroke_begin(
                whiteboard_id=session.whiteboard_id, user=student, tool="pen", colour="#1f2937", width=3, points=[1, 1]
            )

    add_sessions(2)
    few = count_queries()
    add_sessions(10)
    assert count_queries() == few
