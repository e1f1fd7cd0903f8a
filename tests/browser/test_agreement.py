"""Staff read how often people keep the suggestion, in a real browser (issue 19)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.conftest import PHONE
from tests.factories import AttendanceChangeFactory, TutoringSessionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def decided(tutor, student):
    """Last week: the tutor kept `late` twice, changed a 0.97-sure `late` once; one suggestion was applied."""
    changes = []
    for day, decided_status, action, source in (
        (6, "present", "chose_status", "manual"),
        (5, "late", "chose_status", "manual"),
        (4, "late", "chose_status", "manual"),
        (3, "late", "accepted_suggestion", "whiteboard_auto"),
    ):
        start = (timezone.now() - timedelta(days=day)).replace(second=0, microsecond=0)
        session = TutoringSessionFactory(
            tutor=tutor,
            student=student,
            title=f"Algebra {day}",
            scheduled_start=start,
            scheduled_end=start + timedelta(hours=1),
            student_attendance_status=decided_status,
            attendance_source=source,
        )
        changes.append(
            AttendanceChangeFactory(
                session=session,
                source=source,
                action=action,
                suggestion={
                    "tutor": {"status": "present", "confidence": 0.9},
                    "student": {"status": "late", "confidence": 0.97},
                },
            )
        )
    return changes


def test_staff_go_from_the_report_to_a_confidently_wrong_session(new_page, staff, decided, screenshot):
    page = new_page(staff)
    page.goto("/reports/")
    page.get_by_test_id("agreement-link").click()
    expect(page.get_by_role("heading", name="How often people keep the suggestion")).to_be_visible()
    # 6 chosen statuses (3 rows x 2), 5 kept; the applied suggestion is not among them.
    expect(page.get_by_test_id("agreement-rate")).to_have_text("83%")
    expect(page.get_by_test_id("agreement-applied")).to_have_text("2")
    expect(page.get_by_test_id("reliability-chart").locator("svg")).to_be_visible()
    expect(page.get_by_test_id("matrix-student").locator('tr[data-suggested="late"]')).to_contain_text("1")
    expect(page.get_by_test_id("calibration-student")).to_contain_text("the rule confidence stands")
    screenshot(page, "agreement-report")
    page.get_by_test_id("confidently-wrong").get_by_role("link", name=f"#{decided[0].session_id}").click()
    expect(page).to_have_url(f"{page.url.split('/sessions/')[0]}/sessions/{decided[0].session_id}/")
    expect(page.locator("main h1")).to_be_visible()


def test_agreement_page_fits_a_phone_screen(new_page, staff, decided, screenshot):
    page = new_page(staff, viewport=PHONE)
    page.goto("/reports/agreement/")
    expect(page.get_by_test_id("reliability-chart")).to_be_visible()
    screenshot(page, "agreement-report-phone")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
