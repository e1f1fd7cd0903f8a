"""The database goes away mid-run (issue 5): 503 JSON quickly, not a 500 page or a hang; then work resumes.

The app runs as a real server (gunicorn, DEBUG=false, the production settings) whose DATABASE_URL
points at a TCP proxy in this test, in front of the test database on PostgreSQL. Cutting the proxy
kills the server's open database connections and refuses new ones, as a stopped database would;
the machine's PostgreSQL itself is never touched. Real server time throughout: the runs are short.
"""

import contextlib
import http.client
import json
import socket
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.services import token_issue
from tests.factories import TutoringSessionFactory
from tests.live_server import LiveServer
from whiteboard.models import Connection, WhiteboardSession
from whiteboard.selectors import presence_snapshot

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# A correctness bound on a hang, not a benchmark: a healthy answer takes milliseconds.
QUICKLY = 5.0
HTTP_TIMEOUT = 15.0


class DatabaseProxy:
    """127.0.0.1:<port> forwarded to PostgreSQL, until cut.

    `cut()` stops listening and closes every forwarded connection (a stopped server);
    `cut(silent=True)` instead accepts new connections and never answers (a hung one);
    `restore()` forwards again on the same port.
    """

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = 0
        self.silent = False
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None

    def start(self) -> "DatabaseProxy":
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed
            if self.silent:
                self._track(client)  # held open, never answered
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            self._track(client, upstream)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _track(self, *sockets: socket.socket) -> None:
        with self._lock:
            self._sockets.update(sockets)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            self._kill(s)

    @staticmethod
    def _kill(s: socket.socket) -> None:
        with contextlib.suppress(OSError):  # already closed by the other side
            s.shutdown(socket.SHUT_RDWR)
        s.close()

    def cut(self, *, silent: bool = False) -> None:
        self.silent = silent
        if not silent:
            self._stop_listening()
        with self._lock:
            doomed, self._sockets = self._sockets, set()
        for s in doomed:
            self._kill(s)

    def restore(self) -> None:
        self.cut()  # drop whatever a silent cut held
        self.silent = False
        self.start()

    def _stop_listening(self) -> None:
        if self._listener is not None:
            self._kill(self._listener)
            self._listener = None

    def stop(self) -> None:
        self.cut()


class Answer:
    def __init__(self, status: int, headers: dict, body: bytes, seconds: float):
        self.status, self.headers, self.body, self.seconds = status, headers, body, seconds

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} in {self.seconds:.2f}s: {self.body[:200]!r}>"


def call(server: LiveServer, method: str, path: str, *, headers: dict, body: dict | None = None) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=HTTP_TIMEOUT)
    started = time.monotonic()
    try:
        payload = json.dumps(body) if body is not None else None
        conn.request(method, path, body=payload, headers={**headers, "Content-Type": "application/json"})
        response = conn.getresponse()
        content = response.read()
    finally:
        conn.close()
    return Answer(
        response.status, {k.lower(): v for k, v in response.getheaders()}, content, time.monotonic() - started
    )


@pytest.fixture
def proxy():
    proxy = DatabaseProxy(
        (connection.settings_dict["HOST"] or "127.0.0.1", int(connection.settings_dict["PORT"] or 5432))
    )
    yield proxy.start()
    proxy.stop()


@pytest.fixture
def server(proxy, tmp_path):
    """The app, as in production, on the test database through the proxy."""
    db = connection.settings_dict
    env = {
        "DATABASE_URL": f"postgres://{db['USER']}@127.0.0.1:{proxy.port}/{db['NAME']}",
        "DB_CONNECT_TIMEOUT": "3",
        "CONN_MAX_AGE": "60",
        "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
        # Throttling is not the subject here.
        "THROTTLE_HEARTBEAT": "10000/min",
        "THROTTLE_CONNECT": "10000/min",
    }
    with LiveServer(env=env, log_path=tmp_path / "gunicorn.log", workers=2) as live:
        yield live


@pytest.fixture
def people(tutor, student):
    """The student's bearer token and browser session cookie, and the whiteboard of their running session."""
    now = timezone.now()
    session = TutoringSessionFactory(
        tutor=tutor,
        student=student,
        scheduled_start=now - timedelta(minutes=10),
        scheduled_end=now + timedelta(minutes=50),
    )
    _, key = token_issue(user=student, name="outage")
    browser = Client()
    browser.force_login(student)
    cookie = browser.cookies[settings.SESSION_COOKIE_NAME].value
    return {
        "whiteboard": session.whiteboard_id,
        "bearer": {"Authorization": f"Bearer {key}"},
        "cookie": {"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"},
    }


def assert_unavailable(answer: Answer, *, api: bool, server: LiveServer):
    assert answer.status == 503, (answer, server.log()[-3000:])
    assert answer.seconds < QUICKLY, answer
    assert int(answer.headers["retry-after"]) > 0
    if api:
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["code"] == "service_unavailable"
    else:
        assert answer.headers["content-type"].startswith("text/html")


def test_a_lost_database_answers_503_quickly_and_nothing_acknowledged_is_lost(server, proxy, people):
    base = f"/api/whiteboard/sessions/{people['whiteboard']}"
    bearer, cookie = people["bearer"], people["cookie"]
    connection_id = str(uuid.uuid4())
    assert call(server, "POST", f"{base}/connect", headers=bearer, body={"connection_id": connection_id}).status == 200

    def beat() -> tuple[Answer, float]:
        sent = time.time()
        return call(
            server,
            "POST",
            f"{base}/heartbeat",
            headers=bearer,
            body={"connection_id": connection_id, "visibility": "visible"},
        ), sent

    acked = []  # (sent, acknowledged) of every heartbeat answered 200
    for _ in range(6):  # several, so both workers hold a database connection when it is cut
        answer, sent = beat()
        assert answer.status == 200, answer
        acked.append((sent, time.time()))

    # A blip between requests (the database restarted): nobody notices, because CONN_HEALTH_CHECKS
    # replaces each worker's dead persistent connection before using it.
    proxy.cut()
    proxy.restore()
    for _ in range(4):
        answer, sent = beat()
        assert answer.status == 200, answer
        acked.append((sent, time.time()))
    before = call(server, "GET", f"{base}/connection-status", headers=bearer).json()["student"]
    assert call(server, "GET", "/", headers=cookie).status == 200

    proxy.cut()
    # Where the lost database is first noticed: DRF authentication (token, session) answers through the
    # API's exception handler; middleware (a page's time zone, the refused-access log) through handler500.
    outage = {
        "heartbeat (bearer token)": [beat()[0] for _ in range(3)],
        "connection-status (bearer token)": [call(server, "GET", f"{base}/connection-status", headers=bearer)],
        "connection-status (session cookie)": [
            call(server, "GET", f"{base}/connection-status", headers=cookie) for _ in range(2)
        ],
        "unknown API URL (session cookie, middleware)": [call(server, "GET", "/api/nowhere", headers=cookie)],
        "page (session cookie, middleware)": [call(server, "GET", "/", headers=cookie) for _ in range(2)],
    }
    for what, answers in outage.items():
        for answer in answers:
            assert_unavailable(answer, api=not what.startswith("page"), server=server)
    print(
        "\n503 while the database is gone, seconds: "
        + "; ".join(f"{what}: {', '.join(f'{a.seconds:.3f}' for a in answers)}" for what, answers in outage.items())
    )

    # Every heartbeat acknowledged before the cut is there, and nothing else changed.
    last_sent, last_acked = acked[-1]
    signal = Connection.objects.get(connection_id=connection_id)
    whiteboard = WhiteboardSession.objects.get(pk=people["whiteboard"])
    assert last_sent <= signal.last_signal_at.timestamp() <= last_acked
    assert signal.closed_at is None
    # Read as every door reads it: heartbeats on the fast path are folded in from the connection rows.
    presence = presence_snapshot(whiteboard=whiteboard)["student"]
    assert presence.last_activity_at == signal.last_signal_at
    assert presence.total_active_seconds == before["total_active_seconds"]

    proxy.restore()
    # Work resumes, on the same whiteboard connection and with no server restart.
    resumed = [beat() for _ in range(4)]
    assert [answer.status for answer, _ in resumed] == [200] * 4, resumed
    assert call(server, "GET", f"{base}/connection-status", headers=cookie).status == 200
    assert call(server, "GET", "/", headers=cookie).status == 200

    last_sent = resumed[-1][1]
    signal.refresh_from_db()
    whiteboard.refresh_from_db()
    assert last_sent <= signal.last_signal_at.timestamp() <= time.time()
    # The tab stayed open through the outage (a gap shorter than the timeout): it all counts as presence.
    presence = presence_snapshot(whiteboard=whiteboard)["student"]
    assert len(presence.spans) == 1
    assert presence.total_active_seconds == round((signal.last_signal_at - presence.connected_at).total_seconds())


def test_a_database_that_accepts_but_never_answers_gives_503_within_the_connect_timeout(server, proxy, people):
    base = f"/api/whiteboard/sessions/{people['whiteboard']}"
    assert call(server, "GET", f"{base}/connection-status", headers=people["bearer"]).status == 200

    proxy.cut(silent=True)
    answers = [
        call(server, "GET", f"{base}/connection-status", headers=people["bearer"]),
        call(server, "GET", f"{base}/connection-status", headers=people["cookie"]),
    ]
    for answer in answers:
        assert_unavailable(answer, api=True, server=server)
    print("\n503 while the database hangs, seconds: " + ", ".join(f"{a.seconds:.3f}" for a in answers))

    proxy.restore()
    assert call(server, "GET", f"{base}/connection-status", headers=people["bearer"]).status == 200
