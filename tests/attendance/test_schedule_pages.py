"""The tutor's and the parent's pages for cancelling, moving and contesting (thin doors onto the services)."""

import zoneinfo
from datetime import datetime, timedelta

import pytest
from django.test import Client

from accounts.models import Profile
from attendance.models import AttendanceChange, AttendanceDispute, TutoringSession
from attendance.services import attendance_mark_by_hand
from tests.conftest import T0
from tests.factories import GuardianFactory, UserFactory

pytestmark = pytest.mark.django_db

END = T0 + timedelta(hours=1)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_offers_cancel_and_move_only_before_the_start(session, tutor, staff, clock):
    clock.at(T0 - timedelta(days=1))
    page = signed_in(tutor).get(f"/sessions/{session.pk}/").content.decode()
    assert 'data-testid="cancel-form"' in page and 'data-testid="move-form"' in page
    assert 'data-testid="cancel-form"' not in signed_in(staff).get(f"/sessions/{session.pk}/").content.decode()
    clock.at(T0)
    page = signed_in(tutor).get(f"/sessions/{session.pk}/").content.decode()
    assert 'data-testid="cancel-form"' not in page and 'data-testid="move-form"' not in page


def test_a_move_reads_the_times_in_the_tutors_zone(session, tutor, clock):
    Profile.objects.update_or_create(user=tutor, defaults={"time_zone": "America/New_York"})
    clock.at(T0 - timedelta(days=1))
    response = signed_in(tutor).post(
        f"/sessions/{session.pk}/move", {"start": "2026-03-12T09:00", "end": "2026-03-12T10:30", "reason": "Clash"}
    )
    assert response.status_code == 302
    moved = TutoringSession.objects.get(pk=session.pk)
    new_york = zoneinfo.ZoneInfo("America/New_York")
    assert moved.scheduled_start == datetime(2026, 3, 12, 9, 0, tzinfo=new_york)
    assert moved.scheduled_end - moved.scheduled_start == timedelta(minutes=90)


def test_a_refused_move_is_a_form_error_and_changes_nothing(session, tutor, clock):
    clock.at(T0 - timedelta(days=1))
    response = signed_in(tutor).post(
        f"/sessions/{session.pk}/move", {"start": "2026-03-01T09:00", "end": "2026-03-01T10:00", "reason": "Oops"}
    )
    assert response.status_code == 400
    assert "The new time must be in the future." in response.content.decode()
    assert not AttendanceChange.objects.exists()


def test_the_page_shows_the_billing_outcome(session, tutor, clock):
    clock.at(END + timedelta(minutes=5))
    attendance_mark_by_hand(session=session, by=tutor, tutor_status="present", student_status="absent")
    page = signed_in(tutor).get(f"/sessions/{session.pk}/").content.decode()
    assert 'data-outcome="student_no_show"' in page and "Student no-show" in page


def test_the_tutor_contests_an_admin_override_from_the_page(session, tutor, staff, clock):
    clock.at(END + timedelta(minutes=5))
    attendance_mark_by_hand(session=session, by=staff, tutor_status="absent", student_status=None, notes="No tutor")
    client = signed_in(tutor)
    assert 'data-testid="dispute-form"' in client.get(f"/sessions/{session.pk}/").content.decode()
    assert client.post(f"/sessions/{session.pk}/dispute", {"note": "I was there"}).status_code == 302
    assert AttendanceDispute.objects.get().raised_by == tutor
    assert 'data-testid="open-dispute"' in client.get(f"/sessions/{session.pk}/").content.decode()


def test_a_parent_contests_the_tutors_mark_from_the_family_page(session, tutor, student, clock):
    parent = UserFactory(username="pam_parent")
    GuardianFactory(user=parent, children=[student])
    clock.at(END + timedelta(minutes=5))
    attendance_mark_by_hand(session=session, by=tutor, tutor_status="present", student_status="absent")
    client = signed_in(parent)
    assert 'data-testid="dispute-form"' in client.get(f"/family/sessions/{session.pk}/").content.decode()
    assert client.post(f"/family/sessions/{session.pk}/dispute", {"note": ""}).status_code == 400
    assert client.post(f"/family/sessions/{session.pk}/dispute", {"note": "She was there"}).status_code == 302
    assert AttendanceDispute.objects.get().raised_by == parent


def test_the_two_forms_on_one_card_label_their_own_fields(session, tutor, clock):
    clock.at(T0 - timedelta(days=1))
    page = signed_in(tutor).get(f"/sessions/{session.pk}/").content.decode()
    assert page.count('id="cancel_reason"') == 1 and page.count('id="move_reason"') == 1
    assert 'for="cancel_reason"' in page and 'for="move_reason"' in page
