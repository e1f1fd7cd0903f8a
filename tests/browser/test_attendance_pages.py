"""The tutor's dashboard and session page in a real browser (issue #4)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from attendance.models import AttendanceChange, TutoringSession
from tests.browser.conftest import PHONE
from tests.factories import TutoringSessionFactory
from tests.whiteboard.helpers import presence_trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def ended_session(tutor, student):
    """A session that ended an hour ago (real time: the browser's clock is real), student 12 min late."""
    end = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    start = end - timedelta(hours=1)
    session = TutoringSessionFactory(
        tutor=tutor, student=student, title="Geometry", scheduled_start=start, scheduled_end=end
    )
    presence_trace(session.whiteboard, tutor, start - timedelta(minutes=1), end, every=30)
    presence_trace(session.whiteboard, student, start + timedelta(minutes=12), end, every=30)
    return session


def card(page, session):
    return page.locator(f'[data-testid="session-card"][data-session-id="{session.pk}"]')


def test_tutor_accepts_the_suggestion_and_the_card_shows_it(ended_session, tutor_page, screenshot):
    tutor_page.goto("/")
    needs = tutor_page.get_by_test_id("needs-decision")
    expect(card(needs, ended_session)).to_contain_text("assumed")
    card(needs, ended_session).get_by_role("link", name="Geometry").click()

    suggestion = tutor_page.get_by_test_id("suggestion-student")
    expect(suggestion).to_contain_text("Late")
    expect(suggestion).to_contain_text("joined 12 min after the start")
    expect(tutor_page.get_by_test_id("timeline")).to_be_visible()
    screenshot(tutor_page, "session-page-before-accepting")
    tutor_page.get_by_role("button", name="Accept suggestion").click()

    expect(tutor_page.get_by_role("status").filter(has_text="Suggestion accepted")).to_be_visible()
    expect(tutor_page.get_by_test_id("history")).to_contain_text("From whiteboard presence")
    tutor_page.goto("/")
    accepted = card(tutor_page, ended_session)
    expect(accepted).to_contain_text("Late")
    expect(accepted.get_by_test_id("source")).to_have_text("whiteboard")
    expect(tutor_page.get_by_test_id("needs-decision")).to_have_count(0)
    screenshot(tutor_page, "dashboard")
    ended_session.refresh_from_db()
    assert (ended_session.student_attendance_status, ended_session.attendance_source) == ("late", "whiteboard_auto")


def test_manual_mark_with_notes(ended_session, tutor_page):
    tutor_page.goto(reverse("attendance:session", args=[ended_session.pk]))
    form = tutor_page.get_by_test_id("mark-form")
    form.get_by_label("Student").select_option("present")
    form.get_by_label("Notes").fill("Traffic; we agreed to start late")
    form.get_by_role("button", name="Save attendance").click()

    expect(tutor_page.get_by_role("status").filter(has_text="Attendance saved")).to_be_visible()
    expect(tutor_page.get_by_test_id("history")).to_contain_text("Traffic; we agreed to start late")
    expect(tutor_page.get_by_test_id("current-attendance").get_by_test_id("source")).to_have_text("tutor")
    change = AttendanceChange.objects.get(session=ended_session)
    assert (change.source, change.new_student_status, change.notes) == (
        "manual",
        "present",
        "Traffic; we agreed to start late",
    )


def test_a_session_that_has_not_started_offers_no_mark_form_and_says_why(tutor, student, tutor_page):
    # Issue 12: the page asks tutor_change_refusal, as the service does, instead of offering a form that answers 400.
    start = timezone.now() + timedelta(days=1)
    upcoming = TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=start, scheduled_end=start + timedelta(hours=1)
    )
    tutor_page.goto(reverse("attendance:session", args=[upcoming.pk]))

    expect(tutor_page.get_by_test_id("mark-refusal")).to_contain_text("has not started yet")
    expect(tutor_page.get_by_test_id("mark-form")).to_have_count(0)
    expect(tutor_page.get_by_test_id("accept-form")).to_have_count(0)
    assert TutoringSession.objects.get(pk=upcoming.pk).attendance_source == "system_default"
    assert not AttendanceChange.objects.exists()


@pytest.mark.parametrize("page_name", ["dashboard", "session"])
def test_pages_fit_a_phone_screen(ended_session, tutor, new_page, screenshot, page_name):
    page = new_page(tutor, viewport=PHONE)
    page.goto("/" if page_name == "dashboard" else reverse("attendance:session", args=[ended_session.pk]))
    expect(page.locator("main h1")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    screenshot(page, f"{page_name}-phone")
