"""Issue 14: every page works under the Content-Security-Policy; the browser reports no violation."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def watch_violations(page) -> list[str]:
    violations = []
    page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
    return violations


def test_the_tutors_pages_and_the_whiteboard_run_with_no_csp_violation(session, tutor, tutor_page, student_page):
    tutor_violations, student_violations = watch_violations(tutor_page), watch_violations(student_page)
    student_page.goto(reverse("whiteboard:page", args=[session.whiteboard_id]))
    expect(student_page.locator("#connection-badge")).to_have_text("Connected")  # its scripts ran, fetch allowed
    for url in ["/", reverse("attendance:session", args=[session.pk]), "/reports/", "/accounts/settings/"]:
        response = tutor_page.goto(url)
        assert "script-src 'self'" in response.headers["content-security-policy"]
        tutor_page.wait_for_load_state("networkidle")
    assert tutor_violations == [] and student_violations == []


def test_swagger_ui_renders_under_the_csp(new_page, tutor):
    page = new_page(tutor)
    violations = watch_violations(page)
    response = page.goto("/docs")
    header = response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in header.split("script-src")[1].split(";")[0]
    expect(page.get_by_text("Tutoring attendance API").first).to_be_visible()
    expect(page.get_by_text("/api/whiteboard/sessions/{session_id}/connect").first).to_be_visible()
    assert violations == []


def test_django_admin_runs_under_the_csp(new_page, staff, session):
    page = new_page()
    violations = watch_violations(page)
    page.goto("/admin/login/")
    page.get_by_label("Username").fill(staff.username)
    page.get_by_label("Password").fill("pass-for-tests-123")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="API tokens").first).to_be_visible()
    for url in (
        "/admin/attendance/tutoringsession/",
        f"/admin/attendance/tutoringsession/{session.pk}/change/",
        "/admin/accounts/apitoken/add/",
    ):
        page.goto(url)
        page.wait_for_load_state("networkidle")
    assert violations == []
