"""The whiteboard page and its tracker in a real browser, against the real presence API."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.browser.conftest import PHONE
from whiteboard.models import WhiteboardSession
from whiteboard.selectors import presence_snapshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The session page polls connection-status every 4 s; allow one full refresh and then some.
LIVE_REFRESH_MS = 8_000


def whiteboard_url(session) -> str:
    return reverse("whiteboard:page", args=[session.whiteboard_id])


def test_tutor_sees_the_student_join_and_leave(session, student_page, tutor_page):
    # The tutor's session page refreshes both participants' live status every few seconds.
    tutor_page.goto(reverse("attendance:session", args=[session.pk]))
    student_status = tutor_page.get_by_test_id("student-connection")
    expect(student_status).to_have_attribute("data-connected", "false")

    student_page.goto(whiteboard_url(session))
    expect(student_page.locator("#connection-badge")).to_have_text("Connected")
    expect(student_status).to_have_attribute("data-connected", "true", timeout=LIVE_REFRESH_MS)
    expect(student_status).to_have_text("Connected")

    student_page.close()  # fires pagehide: the tracker sends the disconnect with fetch keepalive

    expect(student_status).to_have_attribute("data-connected", "false", timeout=LIVE_REFRESH_MS)
    # Gone by an explicit disconnect, long before the 45 s timeout could have closed it.
    events = [e["event"] for e in WhiteboardSession.objects.get(pk=session.whiteboard_id).connection_logs]
    assert events == ["connect", "disconnect"]


def test_badge_says_connected_and_heartbeats_keep_it_so(session, student_page, screenshot):
    student_page.goto(whiteboard_url(session))

    badge = student_page.locator("#connection-badge")
    expect(badge).to_have_text("Connected")
    expect(badge).to_have_attribute("data-state", "connected")
    # Heartbeats follow (every second here), on the same connection, and keep it connected.
    connection_id = student_page.evaluate("window.whiteboardTracker.connectionId")
    for _ in range(2):
        with student_page.expect_request(lambda r: r.url.endswith("/heartbeat")) as beat:
            pass
        assert beat.value.post_data_json == {"connection_id": connection_id, "visibility": "visible"}
        assert beat.value.response().ok
    expect(badge).to_have_text("Connected")
    # As every door reads it: the fast path's heartbeats are on the connection row until folded in.
    student = presence_snapshot(whiteboard=WhiteboardSession.objects.get(pk=session.whiteboard_id))["student"]
    assert student.last_activity_at > student.connected_at


def test_the_other_participant_is_shown_once_they_join(session, student_page, tutor_page, screenshot):
    tutor_page.goto(whiteboard_url(session))
    other = tutor_page.locator("#other-badge")
    expect(other).to_have_text("Not here")
    # Each tab first finds this HTTP-only server has no socket and falls back to heartbeats: wait for that,
    # tab by tab, so the badge's own wait measures only the tutor's next heartbeat after the student's join.
    expect(tutor_page.locator("#connection-badge")).to_have_text("Connected")

    student_page.goto(whiteboard_url(session))
    expect(student_page.locator("#connection-badge")).to_have_text("Connected")

    expect(other).to_have_text("On the whiteboard")
    draw_a_tick(tutor_page)
    screenshot(tutor_page, "whiteboard-tutor-desktop")


def test_without_a_live_socket_the_board_shows_what_was_saved_and_is_not_drawn_on(session, tutor, student_page):
    # This live server speaks HTTP only: the tracker falls back to heartbeats, the board to reading its pages.
    from whiteboard.board import board_stroke_begin
    from whiteboard.models import BoardStroke

    board_stroke_begin(
        whiteboard_id=session.whiteboard_id,
        user=tutor,
        tool="pen",
        colour="#d93a30",
        width=6,
        points=[100, 100, 300, 200, 500, 120],
    )
    student_page.goto(whiteboard_url(session))

    expect(student_page.locator("#board")).to_have_attribute("data-replayed", "1")
    assert inked_pixels(student_page) > 100
    expect(student_page.get_by_test_id("board-note")).to_contain_text("Drawing needs a live connection")
    draw_a_tick(student_page)
    assert BoardStroke.objects.count() == 1
    assert student_page.locator("#board-clear").count() == 0  # the clear button is the tutor's


def test_whiteboard_fits_a_phone_screen(session, student, new_page, screenshot):
    page = new_page(student, viewport=PHONE)

    page.goto(whiteboard_url(session))

    expect(page.locator("#connection-badge")).to_have_text("Connected")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    draw_a_tick(page)
    screenshot(page, "whiteboard-student-phone")


def test_keyboard_users_can_skip_to_the_content(session, student_page):
    student_page.goto(whiteboard_url(session))

    student_page.keyboard.press("Tab")
    skip = student_page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    student_page.keyboard.press("Enter")
    expect(student_page.locator("#main")).to_be_focused()


def draw_a_tick(page):
    box = page.locator("#board-canvas").bounding_box()
    x, y = box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.5
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 40, y + 40, steps=8)
    page.mouse.move(x + 140, y - 80, steps=12)
    page.mouse.up()


def inked_pixels(page) -> int:
    return page.evaluate("""() => {
        const canvas = document.getElementById("board-canvas");
        const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        let inked = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) inked += 1;
        return inked;
    }""")


def test_two_days_ahead_the_board_says_when_it_opens_and_records_no_presence(tutor, student, new_page, screenshot):
    from datetime import timedelta

    from django.utils import timezone

    from tests.factories import TutoringSessionFactory
    from whiteboard.models import Connection

    start = timezone.now().replace(microsecond=0) + timedelta(days=2)
    ahead = TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=start, scheduled_end=start + timedelta(hours=1)
    )
    page = new_page(student)
    with page.expect_response(lambda r: r.url.endswith("/connection-status")):
        page.goto(whiteboard_url(ahead))

    expect(page.get_by_test_id("board-closed")).to_contain_text("The whiteboard opens at")
    expect(page.locator("#connection-badge")).to_have_text("Opens later")
    assert page.evaluate("window.whiteboardTracker") is None
    assert not Connection.objects.filter(whiteboard_id=ahead.whiteboard_id).exists()
    screenshot(page, "whiteboard-before-window-desktop")


def test_the_tutor_sees_a_hidden_tab_as_connected_tab_hidden_with_a_24_hour_updated_stamp(
    session, student_page, new_page, screenshot
):
    import re

    # en-US would write "4:05:06 PM" if the page used the browser's own time format.
    tutor_page = new_page(session.tutor, locale="en-US")
    student_page.goto(whiteboard_url(session))
    expect(student_page.locator("#connection-badge")).to_have_text("Connected")
    with student_page.expect_response(
        lambda r: r.url.endswith("/heartbeat") and "hidden" in (r.request.post_data or "")
    ):
        student_page.evaluate("""() => {
            Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
            document.dispatchEvent(new Event("visibilitychange"));
        }""")

    tutor_page.goto(reverse("attendance:session", args=[session.pk]))
    student_status = tutor_page.get_by_test_id("student-connection")
    expect(student_status).to_have_text("Connected · tab hidden")
    # This test's server is WSGI (no sockets): the page polls, and stamps each refresh with the server's time.
    expect(tutor_page.locator("#live-updated")).to_have_text(
        re.compile(r"^no live connection: refreshing every 5 s · \d\d:\d\d:\d\d$")
    )
    expect(student_status).to_have_text("Connected · tab hidden")  # still so after the live refresh
    screenshot(tutor_page, "session-running-hidden-tab-desktop")
