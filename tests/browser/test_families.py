"""A parent reports an absence in a real browser, and the tutor sees it (issue #6)."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from attendance.models import TutoringSession
from tests.browser.conftest import PHONE
from tests.factories import GuardianFactory, TutoringSessionFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def parent(student):
    user = UserFactory(username="pam_parent", first_name="Pam", last_name="Parent")
    GuardianFactory(user=user, children=[student])
    return user


@pytest.fixture
def tomorrow(tutor, student):
    """Sam's algebra tomorrow (real time: the browser's clock is real)."""
    start = (timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    return TutoringSessionFactory(
        tutor=tutor, student=student, title="Algebra", scheduled_start=start, scheduled_end=start + timedelta(hours=1)
    )


@pytest.fixture
def last_week(tutor, student):
    """A past session the tutor marked late, so the page shows history too."""
    start = (timezone.now() - timedelta(days=6)).replace(second=0, microsecond=0)
    session = TutoringSessionFactory(
        tutor=tutor,
        student=student,
        title="Geometry",
        scheduled_start=start,
        scheduled_end=start + timedelta(hours=1),
        whiteboard=None,
    )
    TutoringSession.objects.filter(pk=session.pk).update(student_attendance_status="late", attendance_source="manual")
    return session


def card(page, session):
    return page.locator(f'[data-testid="session-card"][data-session-id="{session.pk}"]')


def test_parent_reports_an_absence_and_the_tutors_dashboard_shows_it(
    new_page, parent, tutor, tomorrow, last_week, screenshot
):
    page = new_page(parent)
    page.goto("/")  # a parent lands on their family page
    expect(page.get_by_role("heading", name="Your children's sessions")).to_be_visible()
    expect(page.get_by_role("link", name="Family")).to_have_attribute("aria-current", "page")
    expect(card(page, tomorrow)).to_contain_text("scheduled")
    expect(card(page, last_week)).to_contain_text("Late")
    screenshot(page, "family-page")

    card(page, tomorrow).get_by_role("link", name="Report absence").click()
    form = page.get_by_test_id("report-form")
    form.get_by_role("button", name="Report absence").click()  # no reason yet
    expect(page.get_by_role("alert")).to_contain_text("Please correct the error below")
    expect(form.get_by_label("Reason")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "family-report-error")
    form.get_by_label("Reason").fill("Ill with a cold")
    form.get_by_role("button", name="Report absence").click()

    expect(page.get_by_role("status")).to_contain_text("Absence reported")
    reported = card(page, tomorrow)
    expect(reported).to_contain_text("Excused")
    expect(reported.get_by_test_id("source")).to_have_text("parent")
    expect(reported.get_by_role("button", name="Withdraw report")).to_be_visible()
    screenshot(page, "family-page-reported")

    tutor_page = new_page(tutor)
    tutor_page.goto("/")
    on_dashboard = card(tutor_page.get_by_test_id("upcoming"), tomorrow)
    expect(on_dashboard.locator('[data-status="excused"]')).to_contain_text("Excused")
    expect(on_dashboard.get_by_test_id("source")).to_have_text("parent")
    screenshot(tutor_page, "dashboard-parent-reported")

    tomorrow.refresh_from_db()
    assert (tomorrow.student_attendance_status, tomorrow.attendance_source, tomorrow.attendance_notes) == (
        "excused",
        "parent_reported",
        "Ill with a cold",
    )
    assert [m.to for m in mail.outbox] == [[tutor.email]]


def test_parent_withdraws_the_report_and_the_session_is_as_before(new_page, parent, tomorrow):
    page = new_page(parent)
    page.goto(f"/family/sessions/{tomorrow.pk}/")
    page.get_by_label("Reason").fill("Dentist")
    page.get_by_role("button", name="Report absence").click()
    expect(page.get_by_role("status")).to_contain_text("Absence reported")

    card(page, tomorrow).get_by_role("button", name="Withdraw report").click()

    expect(page.get_by_role("status")).to_contain_text("Report withdrawn")
    expect(card(page, tomorrow)).to_contain_text("scheduled")
    expect(card(page, tomorrow).get_by_role("link", name="Report absence")).to_be_visible()
    tomorrow.refresh_from_db()
    assert (tomorrow.student_attendance_status, tomorrow.attendance_source) == ("present", "system_default")


def test_family_page_fits_a_phone_screen(new_page, parent, tomorrow, last_week, screenshot):
    page = new_page(parent, viewport=PHONE)
    page.goto("/family/")
    expect(page.locator("main h1")).to_be_visible()
    screenshot(page, "family-page-phone")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
