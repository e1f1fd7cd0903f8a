"""Issue 18 on a real PostgreSQL: races between a cancellation and a parent's report, between two
disputes, and the sync query on its index."""

from datetime import timedelta

import pytest
from django.db import connection, transaction

from attendance.disputes import dispute_raise
from attendance.models import AttendanceChange, AttendanceDispute, TutoringSession
from attendance.scheduling import session_cancel
from attendance.services import attendance_mark_by_hand
from core.errors import DomainError
from families.services import absence_report
from tests.attendance.test_concurrency import run_together
from tests.conftest import T0
from tests.factories import GuardianFactory, TutoringSessionFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

END = T0 + timedelta(hours=1)


def refused(job, refusals):
    def run():
        try:
            job()
        except DomainError as error:
            refusals.append(error.code)

    return run


def test_a_cancellation_and_a_parents_report_at_once_one_wins_and_history_says_which():
    tutor, student, parent = UserFactory(), UserFactory(), UserFactory()
    GuardianFactory(user=parent, children=[student])
    session = TutoringSessionFactory(tutor=tutor, student=student, scheduled_start=T0, scheduled_end=END)
    before = T0 - timedelta(days=2)
    refusals = []
    run_together(
        refused(lambda: session_cancel(session=session, by=tutor, reason="Ill", now=before), refusals),
        refused(lambda: absence_report(session=session, parent=parent, reason="Trip", now=before), refusals),
    )
    [change] = AttendanceChange.objects.filter(session=session)
    assert len(refusals) == 1
    assert refusals[0] == ("already_marked" if change.event == "cancel" else "already_reported")
    assert TutoringSession.objects.get(pk=session.pk).attendance_source == change.source


def test_two_disputes_at_once_one_is_open():
    tutor, student, parent, staff = UserFactory(), UserFactory(), UserFactory(), UserFactory(is_staff=True)
    GuardianFactory(user=parent, children=[student])
    session = TutoringSessionFactory(tutor=tutor, student=student, scheduled_start=T0, scheduled_end=END)
    decided = END + timedelta(minutes=5)
    attendance_mark_by_hand(
        session=session, by=staff, tutor_status="absent", student_status="absent", notes="x", now=decided
    )
    refusals = []
    run_together(
        refused(lambda: dispute_raise(session=session, by=tutor, note="I was there", now=decided), refusals),
        refused(lambda: dispute_raise(session=session, by=parent, note="So was she", now=decided), refusals),
    )
    assert AttendanceDispute.objects.filter(session=session, settled_at__isnull=True).count() == 1
    assert refusals == ["already_disputed"]


def test_the_sync_query_reads_the_updated_at_index():
    tutor, student = UserFactory(), UserFactory()
    for _ in range(3):
        TutoringSessionFactory(tutor=tutor, student=student, scheduled_start=T0, scheduled_end=END)
    query = TutoringSession.objects.filter(updated_at__gte=T0).order_by("updated_at", "pk")[:51]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a 3-row table: say which plan exists, not which is cheapest
        plan = query.explain()
    assert "sessions_updated" in plan
