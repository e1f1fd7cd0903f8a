"""Admins settle contested decisions in Django admin, through the dispute service."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from attendance.disputes import dispute_raise
from attendance.models import AttendanceChange, TutoringSession
from attendance.services import attendance_mark_by_hand
from tests.conftest import T0

pytestmark = pytest.mark.django_db

END = T0 + timedelta(hours=1)


@pytest.fixture
def admin_client(staff):
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def dispute(session, tutor, staff, clock):
    clock.at(END + timedelta(minutes=10))
    attendance_mark_by_hand(session=session, by=staff, tutor_status="absent", student_status=None, notes="No tutor")
    return dispute_raise(session=session, by=tutor, note="I was there, on the phone")


def settle_url(dispute):
    return reverse("admin:attendance_attendancedispute_settle", args=[dispute.pk])


def test_open_disputes_are_listed_with_a_settle_link(admin_client, dispute):
    listing = admin_client.get(reverse("admin:attendance_attendancedispute_changelist"), {"open": "yes"})
    assert "I was there, on the phone" in listing.content.decode()
    page = admin_client.get(reverse("admin:attendance_attendancedispute_change", args=[dispute.pk]))
    assert settle_url(dispute) in page.content.decode()


def test_keep(admin_client, dispute, staff):
    response = admin_client.post(settle_url(dispute), {"settlement": "kept", "note": "The log shows nobody"})
    assert response.status_code == 302
    dispute.refresh_from_db()
    assert (dispute.settlement, dispute.settled_by, dispute.settlement_note) == ("kept", staff, "The log shows nobody")
    assert TutoringSession.objects.get(pk=dispute.session_id).tutor_attendance_status == "absent"


def test_override(admin_client, dispute, staff):
    response = admin_client.post(
        settle_url(dispute), {"settlement": "overridden", "tutor_status": "present", "note": "Phone lesson"}
    )
    assert response.status_code == 302
    session = TutoringSession.objects.get(pk=dispute.session_id)
    assert (session.tutor_attendance_status, session.attendance_source) == ("present", "admin_override")
    assert AttendanceChange.objects.filter(session=session).latest("id").notes == "Dispute settled: Phone lesson"


def test_an_override_without_a_status_is_a_form_error_and_changes_nothing(admin_client, dispute):
    response = admin_client.post(settle_url(dispute), {"settlement": "overridden", "note": "x"})
    assert response.status_code == 200
    assert "Give at least one status" in response.content.decode()
    dispute.refresh_from_db()
    assert dispute.is_open
    assert AttendanceChange.objects.filter(session=dispute.session_id).count() == 1
