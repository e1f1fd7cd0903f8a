"""Every page as each kind of user sees it, at 1280 px and 390 px, on the demo data (issue #15).

Screenshots land in artifacts/screenshots/walk-<who>-<page>-<width>.png; each page must fit its
width (no sideways scrolling) and say nothing the rules forbid (no assumed status before a start).
"""

import io
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from attendance.models import TutoringSession
from attendance.services import attendance_finalize, attendance_mark_by_hand
from demo.management.commands import demo_data
from families.services import absence_report
from tests.browser.conftest import DESKTOP, WIDE_PHONE, sign_in
from whiteboard.models import Connection
from whiteboard.services import presence_disconnect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"1280": DESKTOP, "390": WIDE_PHONE}


@pytest.fixture
def demo(django_user_model):
    """The demo data, plus what people do with it: a parent's report, a tutor's mark, the job, an admin."""
    call_command("demo_data", stdout=io.StringIO())
    users = {u.username: u for u in django_user_model.objects.all()}
    now = timezone.now()
    upcoming_leo = TutoringSession.objects.filter(student=users["leo"], scheduled_start__gt=now).first()
    absence_report(session=upcoming_leo, parent=users["grace"], reason="Dentist appointment at 16:15")
    attendance_finalize(now=now)
    undecided = TutoringSession.objects.filter(
        tutor=users["maria"], scheduled_end__lt=now, attendance_source="system_default"
    ).order_by("-scheduled_start")
    first = undecided.first()
    attendance_mark_by_hand(
        session=first, by=users["maria"], tutor_status=None, student_status="late", notes="Bus was late; " + "x" * 300
    )
    james = TutoringSession.objects.filter(tutor=users["james"], scheduled_end__lt=now).order_by("-scheduled_start")
    attendance_mark_by_hand(
        session=james.first(), by=users["admin"], tutor_status=None, student_status="excused", notes="Doctor's note"
    )
    live = TutoringSession.objects.get(title__endswith=f"({demo_data.RUNNING})", scheduled_end__gt=now)
    # The demo's simulated tabs close: from here on the real browsers below are the participants.
    for connection in Connection.objects.filter(whiteboard_id=live.whiteboard_id, closed_at__isnull=True):
        presence_disconnect(
            whiteboard_id=live.whiteboard_id, user=connection.user, connection_id=connection.connection_id
        )
    return {"users": users, "live": live, "upcoming_leo": upcoming_leo, "marked": first}


def visit(page, url: str, name: str, width: str, screenshot):
    page.goto(url)
    expect(page.locator("main h1, #content h1").first).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{url} is {overflow} px too wide at {width}"
    screenshot(page, f"walk-{name}-{width}")
    return page


@pytest.mark.parametrize("width", WIDTHS)
def test_walk_every_page_as_every_user(demo, new_page, screenshot, width):
    viewport = WIDTHS[width]
    users, live = demo["users"], demo["live"]

    def as_user(username):
        page = new_page(viewport=viewport)
        sign_in(page, users[username], password=demo_data.PASSWORD)
        return page

    # The student of the live session is on its whiteboard (in her own browser) throughout.
    mia_board = as_user("mia")
    visit(mia_board, f"/whiteboard/{live.whiteboard_id}/", "student-mia-whiteboard", width, screenshot)
    expect(mia_board.locator("#connection-badge")).to_have_text("Connected")

    # The tutor of the live session: dashboard, live session page, a marked session, an upcoming one, the board.
    priya = as_user("priya")
    visit(priya, "/", "tutor-priya-dashboard", width, screenshot)
    expect(priya.get_by_test_id("open-whiteboard").first).to_be_visible()
    visit(priya, f"/sessions/{live.pk}/", "tutor-priya-live-session", width, screenshot)
    expect(priya.get_by_test_id("student-connection")).to_contain_text("Connected")
    upcoming = TutoringSession.objects.filter(tutor=users["priya"], scheduled_start__gt=timezone.now()).first()
    visit(priya, f"/sessions/{upcoming.pk}/", "tutor-priya-upcoming-session", width, screenshot)
    expect(priya.get_by_test_id("mark-form")).to_have_count(0)
    expect(priya.get_by_test_id("scheduled")).to_have_text(re.compile(r"^Starts at \w{3} \d{1,2} \w{3}, \d\d:\d\d$"))
    visit(priya, f"/whiteboard/{live.whiteboard_id}/", "tutor-priya-whiteboard", width, screenshot)
    visit(priya, "/reports/", "tutor-priya-reports", width, screenshot)
    visit(priya, "/accounts/settings/", "tutor-priya-settings", width, screenshot)

    maria = as_user("maria")
    visit(maria, "/", "tutor-maria-dashboard", width, screenshot)
    visit(maria, f"/sessions/{demo['marked'].pk}/", "tutor-maria-marked-session", width, screenshot)
    expect(maria.get_by_test_id("history")).to_contain_text("Marked by Maria Lopez")
    visit(maria, f"/sessions/{demo['upcoming_leo'].pk}/", "tutor-maria-reported-absence", width, screenshot)

    mia = as_user("mia")
    visit(mia, "/", "student-mia-home", width, screenshot)
    ahead = TutoringSession.objects.filter(
        student=users["mia"], scheduled_start__gt=timezone.now() + timedelta(hours=2)
    ).first()
    visit(mia, f"/whiteboard/{ahead.whiteboard_id}/", "student-mia-whiteboard-not-open", width, screenshot)
    expect(mia.get_by_test_id("board-closed")).to_contain_text("opens at")

    leo = as_user("leo")
    visit(leo, "/", "student-leo-home", width, screenshot)

    grace = as_user("grace")
    visit(grace, "/family/", "parent-grace-family", width, screenshot)
    visit(grace, f"/family/sessions/{demo['upcoming_leo'].pk}/", "parent-grace-reported-session", width, screenshot)

    admin = as_user("admin")
    visit(admin, "/", "staff-admin-dashboard", width, screenshot)
    visit(admin, f"/sessions/{live.pk}/", "staff-admin-live-session", width, screenshot)
    visit(admin, "/reports/", "staff-admin-reports", width, screenshot)
    # Django admin is a desktop tool with its own layout: screenshots, no fit check at 390 px.
    for name, url in [
        ("admin-session-list", "/admin/attendance/tutoringsession/"),
        ("admin-session-change", f"/admin/attendance/tutoringsession/{demo['marked'].pk}/change/"),
        ("admin-override", f"/admin/attendance/tutoringsession/{live.pk}/override/"),
        ("admin-session-add", "/admin/attendance/tutoringsession/add/"),
    ]:
        admin.goto(url)
        screenshot(admin, f"walk-staff-{name}-{width}")
        if name == "admin-override":  # the evidence sits beside (or above) the form, never under it
            evidence = admin.get_by_test_id("evidence").bounding_box()
            form = admin.get_by_test_id("override-form").bounding_box()
            assert evidence["x"] + evidence["width"] <= form["x"] or evidence["y"] + evidence["height"] <= form["y"]

    # The live session, after mia hides her tab: the tutor sees it and its hidden time.
    with mia_board.expect_response(lambda r: r.url.endswith("/heartbeat") and "hidden" in (r.request.post_data or "")):
        mia_board.evaluate("""() => {
            Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
            document.dispatchEvent(new Event("visibilitychange"));
        }""")
    visit(priya, f"/sessions/{live.pk}/", "tutor-priya-live-session-hidden-tab", width, screenshot)
    expect(priya.get_by_test_id("student-connection")).to_have_text("Connected · tab hidden")
