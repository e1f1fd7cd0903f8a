"""Admins work in Django admin: overrides go through the same service as the API (issue #3)."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Profile
from attendance.models import AttendanceChange, TutoringSession
from tests.conftest import T0
from tests.factories import TutoringSessionFactory
from tests.whiteboard.helpers import presence_trace
from whiteboard.models import WhiteboardSession

pytestmark = pytest.mark.django_db

END = T0 + timedelta(hours=1)


@pytest.fixture
def admin_client(staff):
    client = Client()
    client.force_login(staff)
    return client


def test_changelist_shows_both_statuses_source_and_filters(admin_client, session):
    response = admin_client.get(
        reverse("admin:attendance_tutoringsession_changelist"),
        {"attendance_source__exact": "system_default", "q": "tina"},
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert f">{session.pk}<" in content
    assert "Assumed (not yet marked)" in content
    filtered_out = admin_client.get(
        reverse("admin:attendance_tutoringsession_changelist"), {"attendance_source__exact": "manual"}
    )
    assert f">{session.pk}<" not in filtered_out.content.decode()


def test_change_page_shows_presence_and_connection_log_read_only(admin_client, session, student, clock):
    presence_trace(session.whiteboard, student, T0, T0 + timedelta(minutes=10))
    response = admin_client.get(reverse("admin:attendance_tutoringsession_change", args=[session.pk]))
    content = response.content.decode()
    assert response.status_code == 200
    assert "Connection log" in content and "student disconnect" in content
    assert 'name="student_attendance_status"' not in content  # only the override form changes attendance


def test_override_form_records_admin_override_with_the_note(admin_client, session, staff, clock):
    clock.at(END + timedelta(days=30))  # long after the tutor's window: admins may still
    url = reverse("admin:attendance_tutoringsession_override", args=[session.pk])
    response = admin_client.post(url, {"student_status": "excused", "tutor_status": "", "notes": "Doctor's note"})
    assert response.status_code == 302
    session.refresh_from_db()
    assert (session.student_attendance_status, session.tutor_attendance_status) == ("excused", "present")
    assert (session.attendance_source, session.attendance_marked_by) == ("admin_override", staff)
    change = AttendanceChange.objects.get()
    assert (change.source, change.actor, change.notes) == ("admin_override", staff, "Doctor's note")


def test_override_without_a_note_is_a_form_error_and_changes_nothing(admin_client, session):
    url = reverse("admin:attendance_tutoringsession_override", args=[session.pk])
    response = admin_client.post(url, {"student_status": "absent", "notes": ""})
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    session.refresh_from_db()
    assert session.attendance_source == "system_default"
    assert not AttendanceChange.objects.exists()


def test_bulk_override_asks_for_a_note_then_uses_the_service(admin_client, tutor, student, staff):
    sessions = [
        TutoringSessionFactory(
            tutor=tutor, student=student, scheduled_start=T0 + timedelta(days=i), scheduled_end=END + timedelta(days=i)
        )
        for i in range(3)
    ]
    changelist = reverse("admin:attendance_tutoringsession_changelist")
    ids = [str(s.pk) for s in sessions]
    confirm_page = admin_client.post(changelist, {"action": "override_action", "_selected_action": ids})
    assert confirm_page.status_code == 200
    assert "Why (required)" in confirm_page.content.decode()
    assert not AttendanceChange.objects.exists()

    admin_client.post(
        changelist,
        {
            "action": "override_action",
            "_selected_action": ids,
            "confirm": "yes",
            "student_status": "excused",
            "tutor_status": "",
            "notes": "Snow day",
        },
    )
    assert AttendanceChange.objects.filter(source="admin_override", actor=staff, notes="Snow day").count() == 3
    for session in sessions:
        session.refresh_from_db()
        assert session.student_attendance_status == "excused"


def test_bulk_apply_suggestion_reports_sessions_it_could_not_decide(admin_client, tutor, student, clock):
    with_evidence = TutoringSessionFactory(tutor=tutor, student=student, scheduled_start=T0, scheduled_end=END)
    presence_trace(with_evidence.whiteboard, tutor, T0, END)
    without = TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=T0, scheduled_end=END, whiteboard=None
    )
    clock.at(END + timedelta(minutes=1))
    response = admin_client.post(
        reverse("admin:attendance_tutoringsession_changelist"),
        {
            "action": "apply_suggestion_action",
            "_selected_action": [with_evidence.pk, without.pk],
            "confirm": "yes",
            "notes": "Term review",
        },
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert any("1 session(s) changed" in m for m in messages)
    assert any(f"#{without.pk}" in m and "by hand" in m for m in messages)
    with_evidence.refresh_from_db()
    assert (with_evidence.student_attendance_status, with_evidence.attendance_source) == ("absent", "admin_override")


def test_history_in_admin_is_read_only(admin_client, session, tutor, clock):
    clock.at(END)
    from attendance.services import attendance_mark_by_hand

    attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="late")
    change = AttendanceChange.objects.get()
    assert admin_client.get(reverse("admin:attendance_attendancechange_changelist")).status_code == 200
    response = admin_client.post(
        reverse("admin:attendance_attendancechange_change", args=[change.pk]), {"notes": "rewritten"}
    )
    assert response.status_code == 403
    assert (
        admin_client.post(
            reverse("admin:attendance_attendancechange_delete", args=[change.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert AttendanceChange.objects.get().notes == ""


# --- issue #15: scheduling with a whiteboard, evidence in the admin's zone beside the override form ---------


def add_session(admin_client, tutor, student, **extra):
    return admin_client.post(
        reverse("admin:attendance_tutoringsession_add"),
        {
            "title": "Chemistry",
            "tutor": tutor.pk,
            "student": student.pk,
            "scheduled_start_0": "2026-03-12",
            "scheduled_start_1": "16:00:00",
            "scheduled_end_0": "2026-03-12",
            "scheduled_end_1": "17:00:00",
            **extra,
        },
    )


def test_scheduling_a_session_in_admin_makes_its_whiteboard_with_it(admin_client, tutor, student):
    form = admin_client.get(reverse("admin:attendance_tutoringsession_add")).content.decode()
    assert 'name="with_whiteboard"' in form and "checked" in form[form.index('name="with_whiteboard"') - 80 :][:200]
    assert 'name="whiteboard"' not in form  # no raw id to look up

    response = add_session(admin_client, tutor, student, with_whiteboard="on")

    assert response.status_code == 302, response.content.decode()[:2000]
    session = TutoringSession.objects.get(title="Chemistry")
    assert session.whiteboard is not None
    assert session.whiteboard.tutoring_session == session


def test_an_in_person_session_is_scheduled_by_unticking_the_whiteboard(admin_client, tutor, student):
    assert add_session(admin_client, tutor, student).status_code == 302
    session = TutoringSession.objects.get(title="Chemistry")
    assert session.whiteboard is None
    assert not WhiteboardSession.objects.exists()
    # Editing it later offers the whiteboard unticked: saving it as it is keeps it in person.
    change = admin_client.get(reverse("admin:attendance_tutoringsession_change", args=[session.pk])).content.decode()
    box = change[change.index('name="with_whiteboard"') - 100 :][:250]
    assert "checked" not in box


def test_presence_in_admin_is_in_the_admins_zone_on_the_24_hour_clock(admin_client, staff, session, student, clock):
    Profile.objects.update_or_create(user=staff, defaults={"time_zone": "America/New_York"})
    presence_trace(session.whiteboard, student, T0 + timedelta(minutes=3), T0 + timedelta(minutes=50))
    clock.at(END + timedelta(minutes=5))
    content = admin_client.get(reverse("admin:attendance_tutoringsession_change", args=[session.pk])).content.decode()
    evidence = content[content.index('data-testid="evidence"') :]
    # 14:03 UTC is 10:03 in New York (EDT on 10 March 2026); no raw UTC text.
    assert "10 Mar, 10:03:00" in evidence
    assert "+00:00" not in evidence and "T14:03" not in evidence
    assert "a.m." not in content and "p.m." not in content
    assert 'data-testid="timeline"' in evidence


def test_the_override_form_has_the_timeline_and_the_suggestion_beside_it(admin_client, session, tutor, student, clock):
    presence_trace(session.whiteboard, tutor, T0 - timedelta(minutes=1), END)
    presence_trace(session.whiteboard, student, T0 + timedelta(minutes=12), END)
    clock.at(END + timedelta(minutes=5))
    content = admin_client.get(reverse("admin:attendance_tutoringsession_override", args=[session.pk])).content.decode()
    assert 'data-testid="override-form"' in content
    assert 'data-testid="timeline"' in content
    suggestion = content[content.index('data-testid="admin-suggestion"') :]
    assert 'data-status="late"' in suggestion
    assert "% sure" in suggestion
    assert "joined 12 min after the start" in suggestion
