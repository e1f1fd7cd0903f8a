"""Live pages against a real ASGI server (uvicorn) with WebSockets: nothing is reloaded.

The server is a separate process on the test database, so these run on PostgreSQL (`postgres`,
`processes`); presence timeouts, the batch interval and the page refresh are shortened (seconds).
"""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from tests.asgi_server import AsgiServer
from tests.browser.conftest import DESKTOP
from tests.factories import TutoringSessionFactory
from whiteboard.models import Connection

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.processes,
    pytest.mark.django_db(transaction=True),
]

# A push arrives within a second (bench/ws_bench.py measures it); the wait allows a loaded CI machine.
# It stays far below WATCH_REFRESH, so only a push, never the watcher's periodic re-read, can pass it.
PUSHED_MS = 5_000


@pytest.fixture
def asgi_server(tmp_path):
    db = connection.settings_dict
    env = {
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "DEBUG": "true",  # WhiteNoise serves the static files from the app folders (no collectstatic)
        "PRESENCE_HEARTBEAT_INTERVAL": "1",
        "PRESENCE_TIMEOUT_VISIBLE": "4",
        "WEBSOCKET_FLUSH_INTERVAL": "1",
        "WEBSOCKET_SWEEP_INTERVAL": "1",
        "WEBSOCKET_WATCH_REFRESH": "60",  # pages change by push only (see PUSHED_MS)
    }
    with AsgiServer(env=env, log_path=tmp_path / "uvicorn.log") as server:
        yield server


@pytest.fixture
def asgi_page(browser, asgi_server):
    contexts = []

    def make(user):
        context = browser.new_context(base_url=asgi_server.url, viewport=DESKTOP)
        context.set_default_timeout(10_000)
        contexts.append(context)
        # Signed in with a session made here (the server's hashers would not know the tests' fast one).
        client = Client()
        client.force_login(user)
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": asgi_server.url}])
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def running(tutor, student):
    # Started two minutes ago: "unknown" until the student joins, then "present" (provisional).
    now = timezone.now()
    return TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=now - timedelta(minutes=2), scheduled_end=now + timedelta(hours=1)
    )


def whiteboard(page, session):
    page.goto(reverse("whiteboard:page", args=[session.whiteboard_id]))
    expect(page.locator("#connection-badge")).to_have_text("Connected")


def test_tutor_and_student_see_each_other_join_and_leave_and_the_suggestion_change(asgi_page, running, tutor, student):
    tutor_board, tutor_session_page, student_board = asgi_page(tutor), asgi_page(tutor), asgi_page(student)
    tutor_session_page.goto(reverse("attendance:session", args=[running.pk]))
    expect(tutor_session_page.locator("[data-live-status]")).to_have_text("live")
    student_badge = tutor_session_page.get_by_test_id("student-connection")
    suggested = tutor_session_page.get_by_test_id("suggestion-student").locator("[data-status]")
    expect(student_badge).to_have_attribute("data-connected", "false")
    expect(suggested).to_have_attribute("data-status", "unknown")

    whiteboard(tutor_board, running)
    assert tutor_board.evaluate("window.whiteboardTracker.transport") == "websocket"
    expect(tutor_board.locator("#other-badge")).to_have_text("Not here")

    whiteboard(student_board, running)
    # Each sees the other, and the tutor's session page changes, pushed, without a reload.
    expect(student_board.locator("#other-badge")).to_have_text("On the whiteboard", timeout=PUSHED_MS)
    expect(tutor_board.locator("#other-badge")).to_have_text("On the whiteboard", timeout=PUSHED_MS)
    expect(student_badge).to_have_attribute("data-connected", "true", timeout=PUSHED_MS)
    expect(suggested).to_have_attribute("data-status", "present", timeout=PUSHED_MS)
    expect(tutor_session_page.get_by_test_id("timeline").locator(".timeline__span")).to_have_count(2)

    student_board.close()  # closes the socket: the disconnect
    expect(tutor_board.locator("#other-badge")).to_have_text("Not here", timeout=PUSHED_MS)
    expect(student_badge).to_have_attribute("data-connected", "false", timeout=PUSHED_MS)
    student_connection = Connection.objects.get(role="student")
    assert student_connection.close_reason == "disconnect"  # a clean close, long before any timeout


def test_with_websockets_blocked_the_tracker_falls_back_to_http_and_presence_is_recorded(asgi_page, running, student):
    page = asgi_page(student)
    page.context.route_web_socket("**/ws/**", lambda ws: ws.close())  # a proxy that will not carry them
    with page.expect_request(lambda r: r.url.endswith("/heartbeat")) as beat:
        whiteboard(page, running)
    assert page.evaluate("window.whiteboardTracker.transport") == "http"
    assert beat.value.response().ok
    expect(page.locator("#connection-transport")).to_contain_text("no live connection")
    connection_ = Connection.objects.get(role="student", closed_at__isnull=True)
    assert connection_.last_signal_at > connection_.opened_at  # heartbeats over HTTP keep it alive


def test_a_welcomed_tab_outlasts_its_node_restarting_on_the_socket_not_http(asgi_page, asgi_server, running, student):
    """The node dies (kill -9) under a welcomed tab: its sockets fail to open until the node is back. That is an
    outage, not a proxy refusing WebSockets: the tab keeps trying the socket (with backoff) and is welcomed
    again by the restarted node, instead of falling back to HTTP for the rest of the page."""
    page = asgi_page(student)
    whiteboard(page, running)
    attempts = []
    page.on("websocket", lambda ws: attempts.append(ws.url) if "/ws/whiteboard/" in ws.url else None)
    asgi_server.kill()
    # Three sockets fail to open while the node is down (before, the second failure meant HTTP for good).
    for _ in range(200):
        if len(attempts) >= 3:
            break
        page.wait_for_timeout(100)
    assert len(attempts) >= 3, attempts
    assert page.evaluate("window.whiteboardTracker.transport") == "websocket"
    asgi_server.start()
    expect(page.locator("#connection-badge")).to_have_text("Connected", timeout=30_000)
    assert page.evaluate("window.whiteboardTracker.transport") == "websocket"
    assert Connection.objects.filter(role="student", closed_at__isnull=True).exists()


def test_pages_say_when_they_fall_back_to_polling(asgi_page, running, tutor):
    page = asgi_page(tutor)
    page.context.route_web_socket("**/ws/live/", lambda ws: ws.close())
    page.goto(reverse("attendance:home"))
    expect(page.locator("[data-live-status]")).to_contain_text("no live connection: refreshing every 5 s")
    expect(page.get_by_test_id("session-card")).to_have_count(1)
