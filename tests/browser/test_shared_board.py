"""The shared board in two (and three) real browsers against a real ASGI server: live strokes, replay, clear, outsiders.

Same server as the live pages' tests (PostgreSQL, a uvicorn process): see tests/browser/test_live_pages.py.
"""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.browser import test_live_pages
from tests.browser.test_whiteboard import draw_a_tick, inked_pixels
from whiteboard.models import BoardStroke, Connection

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.processes,
    pytest.mark.django_db(transaction=True),
]

LIVE_MS = 2_000

# The live pages' fixtures: a uvicorn process on the test database, signed-in pages on it, a running session.
asgi_server = test_live_pages.asgi_server
asgi_page = test_live_pages.asgi_page
running = test_live_pages.running


def eventually(check, timeout: float = LIVE_MS / 1000):
    """`check()` once it holds (the server is another process: its last write may still be on its way)."""
    import time

    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "still not so"
        time.sleep(0.05)


def open_board(page, session):
    page.goto(reverse("whiteboard:page", args=[session.whiteboard_id]))
    expect(page.locator("#connection-badge")).to_have_text("Connected")
    expect(page.locator("#board")).to_have_attribute("data-live", "true")
    expect(page.locator("#board")).to_have_attribute("data-replayed", "0")


def strokes_on(page) -> int:
    return page.evaluate("window.whiteboardBoard.size")


def test_the_student_sees_the_tutors_stroke_live_and_the_whole_board_after_a_reload(asgi_page, running, tutor, student):
    tutor_page, student_page = asgi_page(tutor), asgi_page(student)
    open_board(tutor_page, running)
    open_board(student_page, running)
    assert student_page.locator("#board-clear").count() == 0  # no clear button for the student

    tutor_page.get_by_label("Red").check(force=True)
    draw_a_tick(tutor_page)
    student_page.wait_for_function("() => window.whiteboardBoard.size === 1", timeout=LIVE_MS)
    student_page.wait_for_function(
        """() => { const c = document.getElementById("board-canvas");
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n > 100; }""",
        timeout=LIVE_MS,
    )
    eventually(lambda: BoardStroke.objects.filter(ended_at__isnull=False).exists())
    stroke = BoardStroke.objects.get()
    assert stroke.role == "tutor" and stroke.colour == "#d93a30" and stroke.ended_at is not None
    assert len(stroke.points) >= 2 * 10  # streamed in batches: every point of the pointer's path is kept

    draw_a_tick(student_page)  # the student draws too
    tutor_page.wait_for_function("() => window.whiteboardBoard.size === 2", timeout=LIVE_MS)

    student_page.reload()
    expect(student_page.locator("#board")).to_have_attribute("data-replayed", "2")
    assert inked_pixels(student_page) > 100

    # The student cannot clear: no button, and the server refuses the message if sent anyway.
    student_page.evaluate("window.whiteboardTracker.send({type: 'clear'})")
    expect(student_page.get_by_test_id("board-note")).to_have_text("Only the tutor can clear the board.")
    assert strokes_on(student_page) == 2 and strokes_on(tutor_page) == 2

    # Undo takes back one's own last stroke, for both.
    student_page.get_by_role("button", name="Undo").click()
    tutor_page.wait_for_function("() => window.whiteboardBoard.size === 1", timeout=LIVE_MS)
    student_page.wait_for_function("() => window.whiteboardBoard.size === 1", timeout=LIVE_MS)

    # The tutor clears: both boards are empty.
    tutor_page.get_by_role("button", name="Clear board").click()
    student_page.wait_for_function("() => window.whiteboardBoard.size === 0", timeout=LIVE_MS)
    assert inked_pixels(student_page) == 0
    student_page.reload()
    expect(student_page.locator("#board")).to_have_attribute("data-replayed", "0")


def test_a_third_user_gets_nothing(asgi_page, running, tutor, other_student, staff):
    tutor_page = asgi_page(tutor)
    open_board(tutor_page, running)
    outsider = asgi_page(other_student)
    response = outsider.goto(reverse("whiteboard:page", args=[running.whiteboard_id]))
    assert response.status == 404
    # Its own socket to the board: closed with 4404, and it hears no stroke.
    outsider.evaluate(
        """url => { window.heard = []; window.wsClosed = null;
        const ws = new WebSocket(url); ws.onmessage = e => window.heard.push(JSON.parse(e.data).type);
        ws.onclose = e => { window.wsClosed = e.code; }; }""",
        f"{outsider.url.split('/whiteboard')[0].replace('http', 'ws')}/ws/whiteboard/sessions/{running.whiteboard_id}/",
    )
    outsider.wait_for_function("() => window.wsClosed !== null", timeout=LIVE_MS)
    draw_a_tick(tutor_page)
    tutor_page.wait_for_function("() => window.whiteboardBoard.size === 1")
    assert outsider.evaluate("window.wsClosed") == 4404
    assert outsider.evaluate("window.heard") == ["error"]
    assert outsider.request.get(reverse("whiteboard-api:strokes", args=[running.whiteboard_id])).status == 404


def test_staff_view_the_board_read_only_and_are_not_present(asgi_page, running, tutor, staff):
    tutor_page = asgi_page(tutor)
    open_board(tutor_page, running)
    draw_a_tick(tutor_page)
    tutor_page.wait_for_function("() => window.whiteboardBoard.size === 1")
    expect(tutor_page.locator("#board")).to_have_attribute("data-live", "true")
    BoardStroke.objects.get()  # stored before the staff look

    staff_page = asgi_page(staff)
    staff_page.goto(reverse("whiteboard:board", args=[running.whiteboard_id]))
    expect(staff_page.get_by_test_id("board-count")).to_have_text("1 stroke on the board")
    assert inked_pixels(staff_page) > 100
    assert not Connection.objects.filter(user=staff).exists()
