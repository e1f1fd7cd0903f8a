"""A tutor cancels an upcoming session from their session page, in a real browser (issue 18)."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from attendance.models import AttendanceChange, TutoringSession
from tests.factories import GuardianFactory, TutoringSessionFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def upcoming(tutor, student):
    """Sam's session in two hours (real time: the browser's clock is real), Pam is his mother."""
    GuardianFactory(user=UserFactory(username="pam_parent", email="pam@example.com"), children=[student])
    start = timezone.now().replace(microsecond=0) + timedelta(hours=2)
    return TutoringSessionFactory(
        tutor=tutor, student=student, title="Chemistry", scheduled_start=start, scheduled_end=start + timedelta(hours=1)
    )


def test_tutor_cancels_an_upcoming_session_with_a_reason(upcoming, tutor_page, student, screenshot):
    tutor_page.goto(f"/sessions/{upcoming.pk}/")
    expect(tutor_page.get_by_test_id("mark-refusal")).to_contain_text("has not started")
    form = tutor_page.get_by_test_id("cancel-form")
    form.get_by_role("button", name="Cancel the session").click()  # no reason yet: refused, nothing changes
    expect(form).to_contain_text("This field is required")
    assert TutoringSession.objects.get(pk=upcoming.pk).attendance_source == "system_default"

    form = tutor_page.get_by_test_id("cancel-form")
    form.get_by_label("Reason").fill("I have a fever")
    screenshot(tutor_page, "cancel-before")
    form.get_by_role("button", name="Cancel the session").click()

    expect(tutor_page.get_by_role("status").filter(has_text="Session cancelled")).to_be_visible()
    expect(tutor_page.get_by_test_id("billing")).to_have_text("Tutor late cancellation")  # under 24 h notice
    expect(tutor_page.get_by_test_id("history-event")).to_have_text("Session cancelled")
    expect(tutor_page.get_by_test_id("history")).to_contain_text("I have a fever")
    expect(tutor_page.get_by_test_id("cancel-form")).to_have_count(0)  # cannot be cancelled twice
    screenshot(tutor_page, "cancel-after")

    session = TutoringSession.objects.get(pk=upcoming.pk)
    assert (session.tutor_attendance_status, session.student_attendance_status) == ("excused", "excused")
    assert AttendanceChange.objects.get(session=session).event == "cancel"
    assert sorted(m.to[0] for m in mail.outbox) == sorted([student.email, "pam@example.com"])
