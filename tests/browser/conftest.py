"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

Run them alone with `pytest -m browser tests/browser/`; they skip, saying why, where
/usr/bin/chromium is missing. Screenshots land in artifacts/screenshots/.
"""

import os
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.servers.basehttp import WSGIServer
from django.test.testcases import LiveServerThread, QuietWSGIRequestHandler
from playwright.sync_api import expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(django_settings.BASE_DIR) / "artifacts" / "screenshots"
PASSWORD = "pass-for-tests-123"  # tests/factories.py UserFactory
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 375, "height": 740}
WIDE_PHONE = {"width": 390, "height": 844}  # the width the issue #15 walk used
EXPECT_TIMEOUT_MS = 5_000


class _LiveServerThread(LiveServerThread):
    """Django's live server thread, answering one request at a time on in-memory SQLite.

    There every request thread would share the test's single SQLite connection, and two
    transactions (two tabs' heartbeats) on one connection interleave. PostgreSQL gets the
    usual threaded server: each request has its own connection, as in production.
    """

    def _create_server(self, connections_override=None):
        if not connections_override:
            return super()._create_server(connections_override)
        return WSGIServer((self.host, self.port), QuietWSGIRequestHandler, allow_reuse_address=False)


@pytest.fixture(scope="session")
def live_server(django_db_setup):
    """pytest-django's live server (same settings and clean-up), with the thread above.

    After the test database exists: the server must know whether it is SQLite in memory.
    """
    server = LiveServer("localhost", start=False)
    threaded = server.thread
    server.thread = _LiveServerThread(
        threaded.host, threaded.static_handler, threaded.connections_override, threaded.port
    )
    server.thread.daemon = True
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    # Playwright's sync API keeps an event loop running on this thread, which makes Django
    # refuse ORM calls from the test body; they are ordinary synchronous calls here.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def fast_heartbeats(settings):
    """Heartbeats every second, so the tests wait for seconds, not for the default 15 s."""
    settings.PRESENCE = {**settings.PRESENCE, "HEARTBEAT_INTERVAL": 1}


@pytest.fixture
def new_page(browser, live_server, fast_heartbeats) -> Callable:
    """`new_page(user=None, viewport=DESKTOP, **context_options)`: a page in its own browser
    context, signed in through the real sign-in form when a user is given. Contexts are
    closed after the test."""
    contexts = []

    def make(user=None, viewport=DESKTOP, **context_options):
        context = browser.new_context(base_url=live_server.url, viewport=viewport, **context_options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        if user is not None:
            sign_in(page, user)
        return page

    yield make
    for context in contexts:
        for page in context.pages:
            _leave_whiteboard(page)
        context.close()
    # The SQLite live server answers in order: once this is answered, every earlier request
    # is done, and the clean-up that empties the database runs alone.
    with urllib.request.urlopen(f"{live_server.url}/static/app/logo.svg") as response:
        response.read()


def _leave_whiteboard(page):
    """Stop a page's tracker and wait for its disconnect, so no request outlives the test."""
    if not page.evaluate("() => Boolean(window.whiteboardTracker && window.whiteboardTracker.connectionId)"):
        return
    with page.expect_response(lambda response: response.url.endswith("/disconnect")):
        page.evaluate("window.whiteboardTracker.stop()")


def sign_in(page, user, password=PASSWORD):
    page.goto("/accounts/login/?next=/accounts/settings/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible()


@pytest.fixture
def session(tutor, student):
    """Tina tutors Sam on a whiteboard, from 5 minutes ago for an hour: browsers run on real time,
    and presence is recorded only inside the session's presence window."""
    from django.utils import timezone

    from tests.factories import TutoringSessionFactory

    start = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    return TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=start, scheduled_end=start + timedelta(hours=1)
    )


@pytest.fixture
def tutor_page(new_page, tutor):
    return new_page(tutor)


@pytest.fixture
def student_page(new_page, student):
    return new_page(student)


@pytest.fixture
def screenshot():
    """`screenshot(page, "name")` saves artifacts/screenshots/name.png (full page)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page, name):
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
