"""The presence socket (`ws/whiteboard/sessions/{id}/`): auth, every close code, presence as HTTP records it."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from tests.conftest import T0
from tests.factories import TutoringSessionFactory
from tests.whiteboard.helpers import Tab
from tests.ws import api_token, closed_with, receive, receive_type, run, send, socket
from whiteboard import liveness
from whiteboard.models import Connection, WhiteboardSession
from whiteboard.selectors import presence_snapshot
from whiteboard.sockets import presence_liveness_write

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _driven_by_the_test(settings):
    # No background round: each test writes the batch (flush) and checks silence (tick) itself.
    settings.WEBSOCKET = {**settings.WEBSOCKET, "FLUSH_INTERVAL": 0, "SWEEP_INTERVAL": 0, "DB_THREAD_POOL": False}


@pytest.fixture
def started(clock, session):
    clock.at(T0)
    return session


def path(session) -> str:
    return f"/ws/whiteboard/sessions/{session.whiteboard_id}/"


def spans_of(session, role: str, now) -> list[dict]:
    whiteboard = WhiteboardSession.objects.get(pk=session.whiteboard_id)
    return presence_snapshot(whiteboard=whiteboard, now=now)[role].spans


async def by_token(session, token: str, **auth):
    """A socket without Origin (an integrator's), connected, that has sent its `auth` message (`auth`: the
    message's other fields, e.g. resume)."""
    ws = await socket(path(session), origin=None)
    await ws.connect()
    await send(ws, {"type": "auth", "token": token, **auth})
    return ws


# --- authentication and the handshake -----------------------------------------------------------------


def test_a_signed_in_participant_is_welcomed_and_present(started, student):
    async def scenario():
        ws = await socket(path(started), user=student)
        connected, _ = await ws.connect()
        assert connected
        welcome = await receive(ws)
        assert welcome["type"] == "welcome" and welcome["role"] == "student"
        assert welcome["heartbeat_interval"] == 15 and welcome["timeout_seconds"] == 45
        assert welcome["presence"]["student"] == {"connected": True, "hidden": False}
        await ws.disconnect(code=1000)
        return welcome["connection_id"]

    connection_id = run(scenario)
    connection = Connection.objects.get(connection_id=connection_id)
    assert connection.close_reason == "disconnect"  # a clean close is presence_disconnect


def test_a_browser_from_another_origin_is_refused_at_the_handshake(started, student):
    async def scenario():
        ws = await socket(path(started), user=student, origin=b"http://evil.example")
        connected, code = await ws.connect()
        return connected, code

    connected, _ = run(scenario)
    # Closed before accept: by the ASGI spec the server answers the handshake with HTTP 403
    # (tests/test_websocket_processes.py sees the 403 from a real server).
    assert not connected
    assert not Connection.objects.exists()


def test_an_origin_in_csrf_trusted_origins_is_let_in(started, student, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://whiteboard.example"]

    async def scenario():
        ws = await socket(path(started), user=student, origin=b"https://whiteboard.example")
        assert (await ws.connect())[0]
        assert (await receive(ws))["type"] == "welcome"
        await ws.disconnect(code=1000)

    run(scenario)


def test_a_client_without_origin_must_authenticate_by_token_even_with_a_cookie(started, student):
    async def scenario():
        ws = await socket(path(started), user=student, origin=None)
        assert (await ws.connect())[0]
        await send(ws, {"type": "ping"})
        return await closed_with(ws)

    error, code = run(scenario)
    assert code == 4401 and error["code"] == "not_authenticated"
    assert not Connection.objects.exists()


def test_a_client_without_origin_authenticates_with_its_api_token(started, student):
    token = api_token(student)

    async def scenario():
        ws = await socket(path(started), origin=None)
        assert (await ws.connect())[0]
        await send(ws, {"type": "auth", "token": token, "visibility": "hidden"})
        welcome = await receive(ws)
        await ws.disconnect(code=1000)
        return welcome

    welcome = run(scenario)
    assert welcome["type"] == "welcome" and welcome["timeout_seconds"] == 150
    assert Connection.objects.get().visibility == "hidden"


def test_a_socket_without_a_session_cookie_is_not_looked_up_in_the_database(started, student, monkeypatch):
    import channels.auth

    looked_up = []
    real = channels.auth.get_user

    async def get_user(scope):
        looked_up.append(scope["session"].session_key)
        return await real(scope)

    monkeypatch.setattr(channels.auth, "get_user", get_user)
    token = api_token(student)

    async def scenario():
        for origin, user in ((None, None), (b"http://testserver", None), (b"http://testserver", student)):
            ws = await socket(path(started), origin=origin, user=user)
            assert (await ws.connect())[0]
            if user is None:
                await send(ws, {"type": "auth", "token": token})
            assert (await receive_type(ws, "welcome"))["role"] == "student"
            await ws.disconnect(code=1000)

    run(scenario)
    # Only the socket with a session went to the database thread for its user.
    assert len(looked_up) == 1 and looked_up[0] is not None


def test_a_bad_token_is_4401(started):
    async def scenario():
        return await closed_with(await by_token(started, "att_not-a-token"))

    error, code = run(scenario)
    assert code == 4401 and error["code"] == "bad_token"


def test_an_expired_or_revoked_token_is_4401_as_over_http(started, student, clock, settings):
    from accounts.models import ApiToken
    from accounts.services import token_issue

    settings.API_TOKEN_LIFETIME_DAYS = 1
    _, expired = token_issue(user=student, name="old", now=clock.now - timedelta(days=1, seconds=1))
    revoked_token, revoked = token_issue(user=student, name="revoked")
    ApiToken.objects.filter(pk=revoked_token.pk).update(revoked_at=clock.now)

    async def closed_for(key):
        return await closed_with(await by_token(started, key))

    answers = run(closed_for, expired), run(closed_for, revoked)
    assert [(code, error["code"]) for error, code in answers] == [(4401, "token_expired"), (4401, "bad_token")]
    assert not Connection.objects.exists()
    # The API door says the same of the same tokens.
    for key, detail in (
        (expired, "This token has expired; ask for a new one."),
        (revoked, "Invalid or revoked token."),
    ):
        response = Client().get(
            f"/api/whiteboard/sessions/{started.whiteboard_id}/connection-status",
            headers={"Authorization": f"Bearer {key}"},
        )
        assert (response.status_code, response.json()["detail"]) == (401, detail)


def test_no_auth_within_the_deadline_is_4401(started, clock):
    async def scenario():
        ws = await socket(path(started), origin=None)
        await ws.connect()
        node = liveness.node()
        await node.tick(now=clock.now + timedelta(seconds=9))
        assert await ws.receive_nothing(timeout=0.1)  # still waiting: 10 s are allowed
        await node.tick(now=clock.now + timedelta(seconds=10, milliseconds=1))
        return await closed_with(ws)

    error, code = run(scenario)
    assert code == 4401 and error["code"] == "not_authenticated"


def test_anonymous_browser_without_a_session_must_send_auth_first(started):
    async def scenario():
        ws = await socket(path(started))
        await ws.connect()
        await send(ws, {"type": "visibility", "visibility": "visible"})
        return await closed_with(ws)

    assert run(scenario)[1] == 4401


# --- access and window --------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["other_student", "staff"])
def test_someone_outside_the_session_is_4404_as_over_http(started, who, request):
    outsider = request.getfixturevalue(who)

    async def scenario():
        ws = await socket(path(started), user=outsider)
        await ws.connect()
        return await closed_with(ws)

    error, code = run(scenario)
    assert code == 4404 and error["code"] == "not_found"
    assert not Connection.objects.exists()
    assert Client().get(f"/api/whiteboard/sessions/{started.whiteboard_id}/connect").status_code in (401, 403)


def test_an_unknown_whiteboard_is_4404(started, student):
    async def scenario():
        ws = await socket("/ws/whiteboard/sessions/987654/", user=student)
        await ws.connect()
        return await closed_with(ws)

    assert run(scenario)[1] == 4404


@pytest.mark.parametrize("offset_minutes", [-15.1, 75.1])
def test_outside_the_presence_window_is_4408(clock, session, student, offset_minutes):
    clock.at(T0 + timedelta(minutes=offset_minutes))

    async def scenario():
        ws = await socket(path(session), user=student)
        await ws.connect()
        return await closed_with(ws)

    error, code = run(scenario)
    assert code == 4408 and error["code"] == "outside_presence_window"
    assert not Connection.objects.exists()


def test_the_window_edges_are_inside(clock, session, student):
    clock.at(T0 - timedelta(minutes=15))

    async def scenario():
        ws = await socket(path(session), user=student)
        await ws.connect()
        message = await receive(ws)
        await ws.disconnect(code=1000)
        return message

    assert run(scenario)["type"] == "welcome"


# --- bad messages and too many ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        "[1, 2]",
        '{"no": "type"}',
        '{"type": 5}',
        '{"type": "dance"}',
        '{"type": "visibility", "visibility": "sideways"}',
        '{"type": "visibility"}',
        "x" * 5000,
        '{"type": "auth", "x": ' + "[" * 1500 + "]" * 1500 + "}",  # 3 KB, too deep for the parser: not a crash
    ],
)
def test_a_malformed_message_is_4400_and_ends_presence_now(started, student, message, clock):
    async def scenario():
        ws = await socket(path(started), user=student)
        await ws.connect()
        await receive(ws)
        clock.advance(20)
        await send(ws, message)
        return await closed_with(ws)

    error, code = run(scenario)
    assert code == 4400 and error["code"] == "malformed"
    connection = Connection.objects.get()
    assert connection.close_reason == "disconnect" and connection.closed_at == clock.now


def test_too_many_messages_is_4429(started, student, settings):
    settings.WEBSOCKET = {**settings.WEBSOCKET, "MAX_MESSAGES": 5}

    async def scenario():
        ws = await socket(path(started), user=student)
        await ws.connect()
        await receive(ws)
        for _ in range(5):
            await send(ws, {"type": "ping"})
            await receive_type(ws, "pong")
        await send(ws, {"type": "ping"})
        return await closed_with(ws)

    error, code = run(scenario)
    assert code == 4429 and error["code"] == "throttled"


# --- presence exactly as the HTTP door records it ------------------------------------------------------

# One participant's afternoon, as (seconds after T0, what happens): both doors get the same one.
TRACE = [
    (0, "connect"),
    *[(s, "beat") for s in range(15, 121, 15)],
    (130, "hidden"),
    *[(s, "beat-hidden") for s in range(145, 300, 15)],
    (305, "visible"),
    *[(s, "beat") for s in range(320, 400, 15)],
    (410, "disconnect"),
    (600, "connect"),
    *[(s, "beat") for s in range(615, 700, 15)],
    (700, "disconnect"),
]


def _through_http(session, user, clock):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(user)
    tab = Tab(client, session.whiteboard_id)
    for seconds, what in TRACE:
        clock.at(T0 + timedelta(seconds=seconds))
        if what == "connect":
            tab.connection_id = str(__import__("uuid").uuid4())
            assert tab.connect().status_code == 200
        elif what == "disconnect":
            assert tab.disconnect().status_code == 200
        else:
            visibility = "hidden" if what in ("hidden", "beat-hidden") else "visible"
            assert tab.beat(visibility).status_code == 200


def _through_socket(session, user, clock, *, flush_every: int = 1):
    async def scenario():
        node = liveness.node()
        ws = None
        pings = 0
        for seconds, what in TRACE:
            clock.at(T0 + timedelta(seconds=seconds))
            if what == "connect":
                ws = await socket(path(session), user=user)
                await ws.connect()
                assert (await receive(ws))["type"] == "welcome"
            elif what == "disconnect":
                await ws.disconnect(code=1000)
            elif what in ("hidden", "visible"):
                await send(ws, {"type": "visibility", "visibility": what})
                await ws.receive_nothing(timeout=0.05)
            else:
                await send(ws, {"type": "ping"})
                await receive_type(ws, "pong")
                pings += 1
                if pings % flush_every == 0:
                    await node.flush()

    run(scenario)


@pytest.fixture
def twin(tutor, student):
    """A second session like `session`, for the other door."""
    return TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=T0, scheduled_end=T0 + timedelta(hours=1)
    )


def test_the_same_trace_through_both_doors_gives_the_same_spans(started, twin, student, clock):
    _through_http(started, student, clock)
    _through_socket(twin, student, clock)
    end = T0 + timedelta(seconds=800)
    http_spans = spans_of(started, "student", end)
    socket_spans = spans_of(twin, "student", end)
    assert len(http_spans) == 2  # left at 410, back at 600
    assert socket_spans == http_spans
    http_wb = WhiteboardSession.objects.get(pk=started.whiteboard_id)
    socket_wb = WhiteboardSession.objects.get(pk=twin.whiteboard_id)
    assert [e["event"] for e in socket_wb.connection_logs] == [e["event"] for e in http_wb.connection_logs]
    assert (socket_wb.student_total_active_seconds, socket_wb.student_hidden_seconds) == (
        http_wb.student_total_active_seconds,
        http_wb.student_hidden_seconds,
    )


def test_pings_are_written_in_one_batch_at_their_own_time(started, student, tutor, clock):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    written = {}

    async def scenario():
        sockets = []
        for user in (tutor, student):
            ws = await socket(path(started), user=user)
            await ws.connect()
            await receive_type(ws, "welcome")
            sockets.append(ws)
        clock.advance(15)
        for ws in sockets:
            await send(ws, {"type": "ping"})
            await receive_type(ws, "pong")
        written["before"] = await database_sync_to_async(
            lambda: list(Connection.objects.values_list("last_signal_at", flat=True))
        )()
        clock.advance(9)  # the batch is written later...
        node = liveness.node()
        batch, node.pending = list(node.pending.values()), {}
        written["queries"] = await database_sync_to_async(write_counting_queries)(batch)
        for ws in sockets:
            await ws.disconnect(code=1006)

    def write_counting_queries(batch):  # what the node's flush() calls, with its queries counted
        with CaptureQueriesContext(db) as queries:
            presence_liveness_write(signals=batch)
        return len(queries.captured_queries)

    run(scenario)
    assert written["before"] == [T0, T0]  # nothing written per ping
    if db.vendor == "postgresql":
        assert written["queries"] == 1  # one UPDATE for every (up to 500) socket of the node
    else:
        assert written["queries"] <= 1 + 2 + 2  # SQLite: the read, then one UPDATE per row (in a transaction)
    for connection in Connection.objects.all():
        assert connection.last_signal_at == T0 + timedelta(seconds=15)  # ...at the signal's time, not the write's
        assert connection.expires_at == T0 + timedelta(seconds=60)
        assert connection.closed_at is None  # a drop is not a disconnect: it lapses at its last signal


def test_a_silent_socket_is_closed_at_its_timeout_and_its_presence_ends_at_its_last_signal(started, student, clock):
    async def scenario():
        node = liveness.node()
        ws = await socket(path(started), user=student)
        await ws.connect()
        await receive(ws)
        clock.advance(15)
        await send(ws, {"type": "ping"})
        await receive(ws)
        clock.advance(45)
        await node.tick()
        assert await ws.receive_nothing(timeout=0.1)  # 45 s after the last signal: still alive
        clock.advance(1)
        await node.tick()
        return await closed_with(ws)

    error, code = run(scenario)
    assert code == 4000 and error["code"] == "silent"
    from whiteboard.services import presence_sweep

    presence_sweep(now=clock.now + timedelta(minutes=5))  # the sweeper, much later
    spans = spans_of(started, "student", clock.now + timedelta(minutes=5))
    assert spans == [{"start": T0.isoformat(), "end": (T0 + timedelta(seconds=15)).isoformat(), "hidden": []}]
    assert Connection.objects.get().close_reason == "timeout"


def test_a_hidden_socket_has_the_hidden_timeout(started, student, clock):
    async def scenario():
        node = liveness.node()
        ws = await socket(path(started), user=student, query="visibility=hidden")
        await ws.connect()
        await receive(ws)
        clock.advance(149)
        await node.tick()
        assert await ws.receive_nothing(timeout=0.1)
        clock.advance(2)
        await node.tick()
        return await closed_with(ws)

    assert run(scenario)[1] == 4000


def test_a_drop_and_a_reconnect_within_the_timeout_is_one_continuous_person(started, student, clock):
    async def scenario():
        node = liveness.node()
        first = await socket(path(started), user=student)
        await first.connect()
        await receive(first)
        clock.advance(15)
        await send(first, {"type": "ping"})
        await receive(first)
        await first.disconnect(code=1006)  # network gone: no close frame
        await node.flush()
        clock.advance(20)
        second = await socket(path(started), user=student)  # e.g. another node
        await second.connect()
        await receive(second)
        clock.advance(30)
        await second.disconnect(code=1000)

    run(scenario)
    from whiteboard.services import presence_sweep

    presence_sweep(now=clock.now + timedelta(minutes=5))
    spans = spans_of(started, "student", clock.now + timedelta(minutes=5))
    assert spans == [{"start": T0.isoformat(), "end": (T0 + timedelta(seconds=65)).isoformat(), "hidden": []}]


def test_the_other_participant_hears_presence_changes(started, student, tutor, clock):
    async def scenario():
        tutor_ws = await socket(path(started), user=tutor)
        await tutor_ws.connect()
        welcome = await receive(tutor_ws)
        assert welcome["presence"]["student"]["connected"] is False
        student_ws = await socket(path(started), user=student)
        await student_ws.connect()
        await receive(student_ws)
        joined = await receive(tutor_ws)
        await send(student_ws, {"type": "visibility", "visibility": "hidden"})
        hidden = await receive(tutor_ws)
        await student_ws.disconnect(code=1001)
        left = await receive(tutor_ws)
        await tutor_ws.disconnect(code=1000)
        return joined, hidden, left

    joined, hidden, left = run(scenario)
    assert joined == {
        "type": "presence",
        "presence": {"tutor": {"connected": True, "hidden": False}, "student": {"connected": True, "hidden": False}},
    }
    assert hidden["presence"]["student"] == {"connected": True, "hidden": True}
    assert left["presence"]["student"] == {"connected": False, "hidden": False}


# --- what an opening socket costs ---------------------------------------------------------------------


@pytest.fixture
def every_statement(monkeypatch):
    """(statements, switch): SQL sent on any thread's connection while switch["on"]. The consumer's calls run
    on this thread's connection, or on `run`'s helper thread's after the browser tests started their loop."""
    from django.db.backends.utils import CursorWrapper

    statements, counting = [], {"on": False}
    execute = CursorWrapper._execute_with_wrappers

    def count(self, sql, params, many, executor):
        if counting["on"]:
            statements.append(sql)
        return execute(self, sql, params, many, executor)

    monkeypatch.setattr(CursorWrapper, "_execute_with_wrappers", count)
    return statements, counting


def test_a_reconnect_by_token_costs_four_statements(started, student, clock, every_statement):
    """A reconnect storm is made of these: the token, the whiteboard's lock, its connections (the
    participant's, and everyone's for the welcome's "who is here"), one write (on PostgreSQL the new
    connection and the whiteboard row's log go as one statement)."""
    from django.db import connection as db

    token = api_token(student)
    statements, counting = every_statement

    async def open_socket():
        ws = await by_token(started, token)
        return ws, await receive(ws)

    async def scenario():
        first, _ = await open_socket()  # still open, as when its node died: the reconnect continues it
        clock.advance(20)
        counting["on"] = True
        second, welcome = await open_socket()
        counting["on"] = False
        await first.disconnect(code=1006)
        await second.disconnect(code=1000)
        return welcome

    welcome = run(scenario)
    assert welcome["type"] == "welcome" and welcome["presence"]["student"] == {"connected": True, "hidden": False}
    assert len(statements) == 4 if db.vendor == "postgresql" else len(statements) <= 6, statements
    assert len(spans_of(started, "student", clock.now)) == 1  # one continuous stretch


def test_a_socket_back_after_a_drop_resumes_its_connection_cheaply(started, student, clock, every_statement):
    """Its node died: the client reconnects naming the connection it had. While that one is alive it
    continues (a heartbeat of it: on PostgreSQL the fast path's one statement, no lock, no new row),
    so a reconnect storm costs what heartbeats cost; the participant stays one stretch of presence."""
    from django.db import connection as db

    token = api_token(student)
    statements, counting = every_statement

    async def open_socket(resume=None):
        ws = await by_token(started, token, **({"resume": resume} if resume else {}))
        return ws, await receive(ws)

    async def scenario():
        first, welcome = await open_socket()
        clock.advance(30)  # within the 45 s timeout
        await first.disconnect(code=1006)  # the node died (no clean close)
        counting["on"] = True
        second, again = await open_socket(resume=welcome["connection_id"])
        counting["on"] = False
        await second.disconnect(code=1000)
        return welcome, again

    welcome, again = run(scenario)
    assert again["type"] == "welcome" and again["connection_id"] == welcome["connection_id"]
    assert again["presence"]["student"] == {"connected": True, "hidden": False}
    connection = Connection.objects.get()  # no second connection
    assert connection.close_reason == "disconnect" and connection.closed_at == T0 + timedelta(seconds=30)
    spans = spans_of(started, "student", clock.now)
    assert [(s["start"], s["end"]) for s in spans] == [(T0.isoformat(), (T0 + timedelta(seconds=30)).isoformat())]
    if db.vendor == "postgresql":
        assert len(statements) == 3, statements  # the token, the heartbeat, who is here


def test_a_resume_after_the_timeout_is_a_new_connection(started, student, clock):
    token = api_token(student)

    async def scenario():
        ws = await by_token(started, token)
        welcome = await receive(ws)
        await ws.disconnect(code=1006)
        clock.advance(46)  # past the 45 s timeout: that presence ended at its last signal
        ws = await by_token(started, token, resume=welcome["connection_id"])
        again = await receive(ws)
        await ws.disconnect(code=1000)
        return welcome, again

    welcome, again = run(scenario)
    assert again["type"] == "welcome" and again["connection_id"] != welcome["connection_id"]
    assert len(spans_of(started, "student", clock.now)) == 2  # a real absence, recorded as one


def test_a_resume_while_the_old_socket_is_still_open_here_closes_the_old_one_not_presence(started, student, clock):
    """The client's network dropped without a close; its new socket resumes on the same node before the
    old, half-open one is noticed. The old one is closed (4000) and its close ends nothing."""
    token = api_token(student)

    async def open_socket(resume=None):
        ws = await by_token(started, token, **({"resume": resume} if resume else {}))
        return ws, await receive(ws)

    async def scenario():
        old, welcome = await open_socket()
        clock.advance(10)
        new, again = await open_socket(resume=welcome["connection_id"])
        closed = await closed_with(old)
        await old.disconnect(code=1000)  # what the old socket's close would have ended
        still_open = await database_sync_to_async(Connection.objects.filter(closed_at__isnull=True).count)()
        clock.advance(5)
        await new.disconnect(code=1000)
        return welcome, again, closed, still_open

    welcome, again, closed, still_open = run(scenario)
    assert again["connection_id"] == welcome["connection_id"]
    assert closed == ({"type": "error", "code": "superseded", "detail": closed[0]["detail"]}, 4000)
    assert still_open == 1
    connection = Connection.objects.get()
    assert connection.close_reason == "disconnect" and connection.closed_at == T0 + timedelta(seconds=15)


def test_a_resume_that_is_not_a_connection_id_is_4400(started, student):
    token = api_token(student)

    async def scenario():
        return await closed_with(await by_token(started, token, resume="not-a-uuid"))

    assert run(scenario)[1] == 4400
