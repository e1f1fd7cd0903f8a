"""What only a real PostgreSQL can show: row locks, the history trigger, concurrent jobs."""

import itertools
import threading
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction

from attendance.models import AttendanceChange, TutoringSession
from attendance.services import attendance_finalize, attendance_mark_by_hand
from tests.conftest import T0
from tests.factories import TutoringSessionFactory, UserFactory
from tests.whiteboard.helpers import presence_trace

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

END = T0 + timedelta(hours=1)


def run_together(*jobs):
    """Start the jobs at the same moment in threads; re-raise the first failure."""
    barrier = threading.Barrier(len(jobs))
    errors = []

    def wrap(job):
        try:
            barrier.wait()
            job()
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrap, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def test_database_refuses_to_update_or_delete_history():
    tutor, student = UserFactory(), UserFactory()
    session = TutoringSessionFactory(tutor=tutor, student=student, scheduled_start=T0, scheduled_end=END)
    attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="absent", now=END)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AttendanceChange.objects.update(notes="rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AttendanceChange.objects.all().delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE attendance_history SET new_student_status = 'present'")
    assert AttendanceChange.objects.get().new_student_status == "absent"


def test_concurrent_marks_all_land_in_history_in_order_and_the_last_wins():
    tutor, student = UserFactory(), UserFactory()
    session = TutoringSessionFactory(tutor=tutor, student=student, scheduled_start=T0, scheduled_end=END)
    statuses = ["late", "absent", "left_early", "present", "excused", "late", "absent", "present"]

    def mark(index, status):
        # Each note its own: the same mark twice in a row would change nothing and write no row.
        return lambda: attendance_mark_by_hand(
            session=session, by=tutor, tutor_status=None, student_status=status, notes=f"{index}: {status}", now=END
        )

    run_together(*(mark(i, s) for i, s in enumerate(statuses)))

    history = list(AttendanceChange.objects.filter(session=session).order_by("id"))
    assert sorted(h.new_student_status for h in history) == sorted(statuses)
    # Each change starts from what the one before it left: no lost update.
    assert history[0].old_student_status == "present"
    for before, after in itertools.pairwise(history):
        assert after.old_student_status == before.new_student_status
    session.refresh_from_db()
    assert session.student_attendance_status == history[-1].new_student_status


def test_finalising_job_run_twice_at_once_finalises_each_session_exactly_once():
    tutor = UserFactory()
    sessions = []
    for i in range(12):
        student = UserFactory()
        start, end = T0 - timedelta(hours=2 * i), END - timedelta(hours=2 * i)
        session = TutoringSessionFactory(tutor=tutor, student=student, scheduled_start=start, scheduled_end=end)
        presence_trace(session.whiteboard, tutor, start, end, every=30)
        # Even sessions: 12 minutes late (sure); odd ones: 5.5 minutes late (left for the tutor).
        late = timedelta(minutes=12) if i % 2 == 0 else timedelta(minutes=5, seconds=30)
        presence_trace(session.whiteboard, student, start + late, end, every=30)
        sessions.append(session)
    reports = []
    run_together(*(lambda: reports.append(attendance_finalize(now=END + timedelta(minutes=20))) for _ in range(2)))

    decided = sum(r.applied + r.left_for_tutor for r in reports)
    assert decided == len(sessions)
    per_session = {s.pk: AttendanceChange.objects.filter(session=s).count() for s in sessions}
    assert sorted(per_session.values()) == [0] * 6 + [1] * 6
    assert sum(r.applied for r in reports) == 6
    undecided = TutoringSession.objects.filter(attendance_source="system_default", finalize_checked_at__isnull=True)
    assert not undecided.exists()
