"""The finalising job (issue #3): settle what nobody marked, never touch anything else."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from attendance.models import AttendanceChange, TutoringSession
from attendance.services import attendance_finalize, attendance_mark_by_hand
from tests.conftest import T0
from tests.factories import TutoringSessionFactory
from tests.whiteboard.helpers import presence_trace

pytestmark = pytest.mark.django_db

END = T0 + timedelta(hours=1)
AFTER = END + timedelta(minutes=16)


def minutes(n):
    return timedelta(minutes=n)


@pytest.fixture
def clear_session(session, tutor, student):
    presence_trace(session.whiteboard, tutor, T0 - minutes(2), END)
    presence_trace(session.whiteboard, student, T0 + minutes(12), END)
    return session


@pytest.fixture
def borderline_session(tutor, student):
    """The student was 5.5 minutes late: within a minute of the threshold, so not sure enough."""
    session = TutoringSessionFactory(tutor=tutor, student=student, scheduled_start=T0, scheduled_end=END)
    presence_trace(session.whiteboard, tutor, T0, END)
    presence_trace(session.whiteboard, student, T0 + timedelta(minutes=5, seconds=30), END)
    return session


def test_applies_a_sure_suggestion_as_whiteboard_auto_by_no_one(clear_session):
    report = attendance_finalize(now=AFTER)
    assert report.applied == 1
    clear_session.refresh_from_db()
    assert clear_session.student_attendance_status == "late"
    assert clear_session.tutor_attendance_status == "present"
    assert clear_session.attendance_source == "whiteboard_auto"
    assert clear_session.attendance_marked_by is None
    change = AttendanceChange.objects.get(session=clear_session)
    assert change.actor is None
    assert change.suggestion["student"]["confidence"] >= 0.8


def test_leaves_an_unsure_suggestion_for_the_tutor(borderline_session):
    report = attendance_finalize(now=AFTER)
    assert (report.applied, report.left_for_tutor) == (0, 1)
    borderline_session.refresh_from_db()
    assert borderline_session.attendance_source == "system_default"
    assert borderline_session.finalize_checked_at == AFTER
    assert not AttendanceChange.objects.exists()
    # Looked at once; later runs do not keep re-deciding it.
    assert attendance_finalize(now=AFTER + minutes(5)).left_for_tutor == 0


def test_waits_fifteen_minutes_after_the_end(clear_session):
    assert attendance_finalize(now=END + minutes(14)).applied == 0
    assert attendance_finalize(now=END + minutes(15)).applied == 1


def test_never_touches_a_session_someone_marked(clear_session, tutor):
    attendance_mark_by_hand(
        session=clear_session,
        by=tutor,
        tutor_status=None,
        student_status="present",
        notes="traffic, we agreed",
        now=END,
    )
    attendance_finalize(now=AFTER)
    clear_session.refresh_from_db()
    assert (clear_session.student_attendance_status, clear_session.attendance_source) == ("present", "manual")
    assert AttendanceChange.objects.count() == 1


def test_a_session_without_whiteboard_is_left_for_the_tutor(tutor, student):
    session = TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=T0, scheduled_end=END, whiteboard=None
    )
    assert attendance_finalize(now=AFTER).left_for_tutor == 1
    session.refresh_from_db()
    assert session.attendance_source == "system_default"


def test_command_prints_what_it_did_and_progress_for_a_backlog(tutor, student):
    sessions = [
        TutoringSession(
            tutor=tutor,
            student=student,
            scheduled_start=T0 - timedelta(hours=2 * i),
            scheduled_end=END - timedelta(hours=2 * i),
        )
        for i in range(250)
    ]
    TutoringSession.objects.bulk_create(sessions)
    out = StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.utils.timezone.now", lambda: AFTER)
        call_command("finalize_attendance", stdout=out)
    text = out.getvalue()
    assert "100/250" in text and "250/250" in text
    assert "left 250 for the tutor's decision" in text
