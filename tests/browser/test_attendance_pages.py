"""The tutor's dashboard and session page in a real browser (issue #4)."""

import itertools
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from attendance.models import AttendanceChange, TutoringSession
from tests.browser.conftest import DESKTOP, PHONE, WIDE_PHONE
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


def test_tutor_accepts_the_suggestion_and_the_card_shows_it(ended_session, tutor, tutor_page, screenshot):
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
    expect(tutor_page.get_by_test_id("history")).to_contain_text(f"Suggestion accepted by {tutor.get_full_name()}")
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


def test_a_session_that_has_not_started_offers_no_mark_form_and_says_when_it_starts(tutor, student, tutor_page):
    # Issue 12: the page asks tutor_change_refusal, as the service does, instead of offering a form that answers 400;
    # issue 15: it says when the session starts and shows no suggestion yet.
    start = timezone.now() + timedelta(days=1)
    upcoming = TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=start, scheduled_end=start + timedelta(hours=1)
    )
    tutor_page.goto(reverse("attendance:session", args=[upcoming.pk]))
    expect(tutor_page.get_by_test_id("current-attendance")).to_contain_text("Starts at")
    expect(tutor_page.get_by_test_id("not-started")).to_be_visible()
    expect(tutor_page.get_by_test_id("mark-refusal")).to_contain_text("has not started yet")
    expect(tutor_page.get_by_test_id("mark-form")).to_have_count(0)
    expect(tutor_page.get_by_test_id("accept-form")).to_have_count(0)
    expect(tutor_page.get_by_test_id("suggestion")).to_have_count(0)
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


LONG_NOTE = "x" * 1999  # one unbroken word, just inside the 2,000-character limit


@pytest.mark.parametrize("viewport", [DESKTOP, WIDE_PHONE], ids=["1280", "390"])
def test_a_long_unbroken_note_wraps_and_the_timeline_fits_with_readable_uncut_labels(
    ended_session, tutor, new_page, screenshot, viewport
):
    from attendance.services import attendance_mark_by_hand

    attendance_mark_by_hand(session=ended_session, by=tutor, tutor_status=None, student_status="late", notes=LONG_NOTE)
    page = new_page(tutor, viewport=viewport)
    page.goto(reverse("attendance:session", args=[ended_session.pk]))
    expect(page.get_by_test_id("history")).to_contain_text("xxxx")
    # Measured once the live parts have had their first refresh (which replaces them), not during it.
    expect(page.locator("#live-updated")).to_have_attribute("data-state", re.compile("^(polling|live)$"))

    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    timeline = page.get_by_test_id("timeline")
    box = timeline.bounding_box()
    labels = timeline.locator(".timeline__label")
    assert labels.count() >= 4
    visible = 0
    for index in range(labels.count()):
        label = labels.nth(index)
        if not label.is_visible():
            continue
        visible += 1
        text = label.inner_text()
        assert len(text) == 5 and text[2] == ":", text  # "16:50", never "16:5"
        edge = label.bounding_box()
        assert box["x"] - 0.5 <= edge["x"] and edge["x"] + edge["width"] <= box["x"] + box["width"] + 0.5, text
        assert float(label.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 12
    assert visible >= 3
    boxes = [labels.nth(i).bounding_box() for i in range(labels.count()) if labels.nth(i).is_visible()]
    for left, right in itertools.pairwise(boxes):
        assert left["x"] + left["width"] <= right["x"], "tick labels overlap"
    screenshot(page, f"session-long-note-{viewport['width']}")


def test_the_notes_field_counts_against_the_limit_instead_of_cutting_and_the_server_refuses_too_long(
    ended_session, tutor_page
):
    tutor_page.goto(reverse("attendance:session", args=[ended_session.pk]))
    form = tutor_page.get_by_test_id("mark-form")
    notes = form.get_by_label("Notes")
    notes.fill("y" * 2100)  # as a paste would: a maxlength would have cut it to 2,000 silently

    assert len(notes.input_value()) == 2100
    expect(form.locator(".counter")).to_have_text("2,100 / 2,000 characters: 100 too many")
    form.get_by_role("button", name="Save attendance").click()

    expect(form.get_by_text("Ensure this value has at most 2000 characters")).to_be_visible()
    assert len(tutor_page.get_by_test_id("mark-form").get_by_label("Notes").input_value()) == 2100
    assert not AttendanceChange.objects.exists()
