"""Two real ASGI server processes (uvicorn) sharing Redis and PostgreSQL: scale-out, a node dying.

Presence timeouts, the batch interval and the sweep are shortened through settings (seconds), so
these tests wait on the clock for a few seconds; every wait is bounded.
"""

import asyncio
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import redis
import websockets
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.services import token_issue
from tests.asgi_server import AsgiServer
from tests.factories import TutoringSessionFactory
from whiteboard.models import Connection, WhiteboardSession
from whiteboard.selectors import presence_snapshot

pytestmark = [pytest.mark.postgres, pytest.mark.processes, pytest.mark.django_db(transaction=True)]

FAST = {
    "PRESENCE_HEARTBEAT_INTERVAL": "1",
    "PRESENCE_TIMEOUT_VISIBLE": "4",
    "PRESENCE_TIMEOUT_HIDDEN": "10",
    "WEBSOCKET_FLUSH_INTERVAL": "1",
    "WEBSOCKET_SWEEP_INTERVAL": "1",
    "WEBSOCKET_WATCH_REFRESH": "60",
}
FLUSH = 1.0


@pytest.fixture
def fast_presence(settings):
    settings.PRESENCE = {**settings.PRESENCE, "HEARTBEAT_INTERVAL": 1, "TIMEOUT_VISIBLE": 4, "TIMEOUT_HIDDEN": 10}


@pytest.fixture
def nodes(tmp_path, fast_presence):
    """`nodes(n)`: n uvicorn processes on the test database and Redis database 5, stopped after the test."""
    try:
        redis.Redis(host="127.0.0.1", port=6379, db=5, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("needs Redis at 127.0.0.1:6379")
    db = connection.settings_dict
    env = {
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "SECRET_KEY": settings.SECRET_KEY,  # the test's session cookies must verify there
        "ALLOWED_HOSTS": "127.0.0.1",
        "REDIS_URL": "redis://127.0.0.1:6379/5",
        "CHANNELS_PREFIX": f"h13test{uuid.uuid4().hex[:8]}",
        **FAST,
    }
    started = []

    def make(count):
        for index in range(count):
            started.append(AsgiServer(env=env, log_path=tmp_path / f"node{len(started)}.log").start())
        return started[-count:]

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def running(tutor, student):
    now = timezone.now()
    return TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=now - timedelta(minutes=5), scheduled_end=now + timedelta(hours=1)
    )


def run_bounded(coroutine, seconds: float) -> None:
    """asyncio.run, in a thread of its own: the browser tests keep an event loop on this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, asyncio.wait_for(coroutine, seconds)).result()


def cookie_of(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def next_matching(ws, predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic())))
        if predicate(message):
            return message


def student_connected(message) -> bool | None:
    if message.get("type") != "session":
        return None
    return message["data"]["presence"]["student"]["connected"]


async def open_presence(node, whiteboard_id: int, token: str):
    ws = await websockets.connect(f"{node.ws_url}/ws/whiteboard/sessions/{whiteboard_id}/")
    await ws.send(json.dumps({"type": "auth", "token": token}))
    welcome = await next_matching(ws, lambda m: m["type"] == "welcome", 5)
    return ws, welcome


async def ping(ws) -> None:
    await ws.send(json.dumps({"type": "ping"}))
    await next_matching(ws, lambda m: m["type"] == "pong", 5)


def test_a_change_on_one_node_reaches_a_page_on_the_other_and_a_dead_node_ends_presence_at_the_last_signal(
    nodes, running, tutor, student
):
    node_a, node_b = nodes(2)
    token = token_issue(user=student, name="whiteboard")[1]
    cookie = cookie_of(tutor)
    figures = {}

    async def flow():
        # A foreign page is refused at the handshake by a real server.
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(f"{node_b.ws_url}/ws/live/", origin="http://evil.example")
        figures["foreign"] = refused.value.response.status_code

        watcher = await websockets.connect(
            f"{node_b.ws_url}/ws/live/", origin=node_b.url, additional_headers={"Cookie": cookie}
        )
        await watcher.send(json.dumps({"type": "watch", "view": "session", "sessions": [running.pk]}))
        assert student_connected(await next_matching(watcher, lambda m: m["type"] == "session", 5)) is False

        joined_at = time.monotonic()
        student_ws, _ = await open_presence(node_a, running.whiteboard_id, token)
        await next_matching(watcher, lambda m: student_connected(m) is True, 5)
        figures["push_seconds"] = time.monotonic() - joined_at

        for _ in range(3):
            await asyncio.sleep(1)
            await ping(student_ws)
        figures["last_ping"] = timezone.now()
        node_a.kill()  # kill -9: no close frame, no last write
        figures["killed"] = timezone.now()
        await next_matching(watcher, lambda m: student_connected(m) is False, 15)  # node B's sweep
        figures["seen_gone"] = timezone.now()
        await watcher.close()

    run_bounded(flow(), 60)

    assert figures["foreign"] == 403
    assert figures["push_seconds"] < 1.0, figures  # the change on A reached the page on B within a second
    (lost,) = Connection.objects.filter(role="student")
    assert lost.close_reason == "timeout"
    whiteboard = WhiteboardSession.objects.get(pk=running.whiteboard_id)
    spans = presence_snapshot(whiteboard=whiteboard)["student"].spans
    assert len(spans) == 1
    end = timezone.datetime.fromisoformat(spans[0]["end"])
    # Ends at the last signal written: at most one batch interval before the last ping, never after it...
    assert end == lost.last_signal_at
    # (the batch runs every FLUSH s on the node's event loop; on a loaded CI machine it may start a second late).
    assert figures["last_ping"] - timedelta(seconds=FLUSH + 1.5) <= end <= figures["last_ping"]
    # ...and never at the time of the sweep, which came a timeout later.
    assert lost.closed_at - end >= timedelta(seconds=4)
    assert whiteboard.student_disconnected_at == end


def test_a_participant_who_reconnects_to_another_node_within_the_timeout_is_one_continuous_person(
    nodes, running, student
):
    node_a, node_b = nodes(2)
    token = token_issue(user=student, name="whiteboard")[1]
    figures = {}

    async def flow():
        first, _ = await open_presence(node_a, running.whiteboard_id, token)
        figures["start"] = timezone.now()
        for _ in range(2):
            await asyncio.sleep(1)
            await ping(first)
        node_a.kill()
        await asyncio.sleep(1)  # the client notices and reconnects, well within the 4 s timeout
        second, _ = await open_presence(node_b, running.whiteboard_id, token)
        for _ in range(6):  # long enough for node B's sweep to time out the dead node's connection
            await asyncio.sleep(1)
            await ping(second)
        await second.close(code=1000)
        figures["end"] = timezone.now()

    run_bounded(flow(), 60)
    deadline = time.monotonic() + 5  # the server records the clean close just after the close handshake
    while Connection.objects.filter(closed_at__isnull=True).exists() and time.monotonic() < deadline:
        time.sleep(0.1)

    whiteboard = WhiteboardSession.objects.get(pk=running.whiteboard_id)
    status = presence_snapshot(whiteboard=whiteboard)["student"]
    assert len(status.spans) == 1 and status.reconnects == 0  # one continuous person
    assert [e["event"] for e in whiteboard.connection_logs] == ["connect", "connect", "timeout", "disconnect"]
    wall = (figures["end"] - figures["start"]).total_seconds()
    assert wall - 1.5 <= status.total_active_seconds <= wall + 0.5  # counted once, not twice
    assert not status.connected
