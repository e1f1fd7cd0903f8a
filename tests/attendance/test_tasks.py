"""The finaliser as a Celery task (issue #17): eager here, the same code a worker runs."""

from datetime import timedelta

import pytest

from attendance.models import AttendanceChange
from attendance.tasks import attendance_finalize_task
from tests.conftest import T0
from tests.factories import TutoringSessionFactory
from tests.whiteboard.helpers import presence_trace

pytestmark = pytest.mark.django_db

END = T0 + timedelta(hours=1)


def test_finalize_task_settles_each_session_once_and_reports_it(session, tutor, student, clock):
    presence_trace(session.whiteboard, tutor, T0, END)
    presence_trace(session.whiteboard, student, T0 + timedelta(minutes=12), END)
    TutoringSessionFactory(tutor=tutor, student=student, scheduled_start=T0, scheduled_end=END, whiteboard=None)
    clock.at(END + timedelta(minutes=20))

    first = attendance_finalize_task.apply().get()
    second = attendance_finalize_task.apply().get()

    assert first == {"applied": 1, "left_for_tutor": 1, "skipped": 0, "presence_unknown": []}
    assert second == {"applied": 0, "left_for_tutor": 0, "skipped": 0, "presence_unknown": []}
    assert AttendanceChange.objects.count() == 1
    session.refresh_from_db()
    assert (session.attendance_source, session.student_attendance_status) == ("whiteboard_auto", "late")
