"""`sessions.updated_at` moves with every write, through every door, so `changed_since` syncs miss nothing."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from attendance.disputes import dispute_raise, dispute_settle
from attendance.models import TutoringSession
from attendance.scheduling import session_cancel, session_reschedule
from attendance.services import attendance_finalize, attendance_mark_by_hand
from core.errors import DomainError
from families.services import absence_report, absence_withdraw
from tests.conftest import T0
from tests.factories import GuardianFactory, UserFactory
from tests.whiteboard.helpers import presence_trace

pytestmark = pytest.mark.django_db

END = T0 + timedelta(hours=1)


def stamp(session) -> object:
    return TutoringSession.objects.values_list("updated_at", flat=True).get(pk=session.pk)


@pytest.fixture
def parent(student):
    user = UserFactory(username="pam_parent")
    GuardianFactory(user=user, children=[student])
    return user


@pytest.fixture
def admin_client(staff):
    client = Client()
    client.force_login(staff)
    return client


def test_the_index_serves_the_sync_query(session):
    names = {index.name for index in TutoringSession._meta.indexes}
    assert "sessions_updated" in names
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TutoringSession._meta.db_table)
    assert constraints["sessions_updated"]["columns"] == ["updated_at", "id"]


def test_a_tutors_mark_through_the_api(api, session, tutor, clock):
    clock.at(END + timedelta(minutes=3))
    response = api(tutor).put(
        f"/api/tutor/sessions/{session.pk}/attendance", {"student_attendance_status": "late"}, format="json"
    )
    assert response.status_code == 200
    assert stamp(session) == clock.now


def test_a_tutors_mark_through_the_page(session, tutor, clock):
    clock.at(END + timedelta(minutes=3))
    client = Client()
    client.force_login(tutor)
    client.post(f"/sessions/{session.pk}/mark", {"tutor_status": "present", "student_status": "absent"})
    assert stamp(session) == clock.now


def test_an_admin_override_through_admin(admin_client, session, clock):
    clock.at(END + timedelta(days=30))
    url = reverse("admin:attendance_tutoringsession_override", args=[session.pk])
    assert admin_client.post(url, {"student_status": "excused", "notes": "Doctor's note"}).status_code == 302
    assert stamp(session) == clock.now


def test_an_admin_edit_of_the_session_itself(admin_client, session, clock):
    clock.at(T0 - timedelta(days=1))
    url = reverse("admin:attendance_tutoringsession_change", args=[session.pk])
    start = T0.astimezone()
    response = admin_client.post(
        url,
        {
            "title": "Geometry",
            "tutor": session.tutor_id,
            "student": session.student_id,
            "scheduled_start_0": start.strftime("%Y-%m-%d"),
            "scheduled_start_1": start.strftime("%H:%M:%S"),
            "scheduled_end_0": (start + timedelta(hours=1)).strftime("%Y-%m-%d"),
            "scheduled_end_1": (start + timedelta(hours=1)).strftime("%H:%M:%S"),
            "whiteboard": session.whiteboard_id,
            "attendance_changes-TOTAL_FORMS": "0",
            "attendance_changes-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    session.refresh_from_db()
    assert session.title == "Geometry"
    assert session.updated_at == clock.now


def test_a_parents_report_and_its_withdrawal(session, parent, clock):
    clock.at(T0 - timedelta(days=2))
    absence_report(session=session, parent=parent, reason="Dentist")
    assert stamp(session) == clock.now
    clock.advance(60)
    absence_withdraw(session=session, parent=parent)
    assert stamp(session) == clock.now


def test_the_finaliser(session, tutor, student, clock):
    presence_trace(session.whiteboard, tutor, T0, END)
    presence_trace(session.whiteboard, student, T0, END)
    clock.at(END + timedelta(minutes=20))
    assert attendance_finalize().applied == 1
    assert stamp(session) == clock.now


def test_a_cancellation_and_a_move(session, tutor, clock):
    clock.at(T0 - timedelta(days=3))
    session_reschedule(
        session=session, by=tutor, start=T0 + timedelta(days=1), end=END + timedelta(days=1), reason="Clash"
    )
    assert stamp(session) == clock.now
    clock.advance(60)
    session_cancel(session=session, by=tutor, reason="Ill")
    assert stamp(session) == clock.now


def test_a_dispute_raised_and_settled(session, tutor, staff, clock):
    clock.at(END + timedelta(minutes=5))
    attendance_mark_by_hand(session=session, by=staff, tutor_status="absent", student_status=None, notes="No show")
    clock.advance(60)
    dispute = dispute_raise(session=session, by=tutor, note="I was there")
    assert stamp(session) == clock.now
    clock.advance(60)
    dispute_settle(dispute=dispute, by=staff, settlement="kept", note="The log shows no tutor")
    assert stamp(session) == clock.now


def test_a_refused_change_leaves_it_alone(session, tutor, clock):
    clock.at(T0 - timedelta(days=1))
    before = stamp(session)
    clock.advance(60)
    with pytest.raises(DomainError):
        attendance_mark_by_hand(session=session, by=tutor, tutor_status="present", student_status="absent")
    assert stamp(session) == before
