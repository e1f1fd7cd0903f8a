"""The watcher socket (`ws/live/`): the pages' access rules, pushes after commit, never presence."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async

from attendance import services
from tests.conftest import T0
from tests.ws import closed_with, receive, receive_type, run, send, socket
from whiteboard.models import Connection

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _driven_by_the_test(settings):
    settings.WEBSOCKET = {
        **settings.WEBSOCKET,
        "FLUSH_INTERVAL": 0,
        "SWEEP_INTERVAL": 0,
        "DB_THREAD_POOL": False,
        "WATCH_REFRESH": 3600,
    }


@pytest.fixture
def started(clock, session):
    clock.at(T0 + timedelta(minutes=10))
    return session


async def watch(user, view: str, ids: list[int], **kwargs):
    ws = await socket("/ws/live/", user=user, **kwargs)
    connected, _ = await ws.connect()
    assert connected
    await send(ws, {"type": "watch", "view": view, "sessions": ids})
    return ws


def test_the_tutor_gets_the_session_page_parts_at_once(started, tutor):
    async def scenario():
        ws = await watch(tutor, "session", [started.pk])
        message = await receive(ws)
        await ws.disconnect()
        return message

    message = run(scenario)
    assert message["type"] == "session" and message["session_id"] == started.pk
    assert set(message["fragments"]) == {"current", "presence", "suggestion", "history"}
    assert 'data-testid="timeline"' in message["fragments"]["presence"]
    assert message["data"]["presence"]["student"]["connected"] is False
    assert message["data"]["suggestion"]["student"]["status"] == "absent"
    assert not Connection.objects.exists()  # watching is never presence


def test_a_student_joining_reaches_the_watching_tutor_with_presence_and_suggestion(started, tutor, student):
    async def scenario():
        watcher = await watch(tutor, "session", [started.pk])
        before = await receive(watcher)
        student_ws = await socket(f"/ws/whiteboard/sessions/{started.whiteboard_id}/", user=student)
        await student_ws.connect()
        await receive_type(student_ws, "welcome")
        joined = await receive(watcher)
        await student_ws.disconnect(code=1000)
        left = await receive(watcher)
        await watcher.disconnect()
        return before, joined, left

    before, joined, left = run(scenario)
    assert before["data"]["presence"]["student"]["connected"] is False
    assert joined["data"]["presence"]["student"]["connected"] is True
    assert 'data-connected="true"' in joined["fragments"]["presence"]
    assert "Together on the whiteboard" in joined["fragments"]["suggestion"]
    assert left["data"]["presence"]["student"]["connected"] is False


def test_a_mark_made_elsewhere_reaches_the_page(started, tutor):
    def mark():
        services.attendance_mark_by_hand(
            session=started, by=tutor, tutor_status="present", student_status="late", notes="came in late"
        )

    async def scenario():
        watcher = await watch(tutor, "session", [started.pk])
        await receive(watcher)
        await database_sync_to_async(mark)()
        pushed = await receive(watcher)
        await watcher.disconnect()
        return pushed

    pushed = run(scenario)
    assert 'data-status="late"' in pushed["fragments"]["current"]
    assert "came in late" in pushed["fragments"]["history"]
    assert pushed["data"]["assumed"] is False


def test_cards_for_the_student_page_and_the_dashboard(started, tutor, student):
    async def scenario():
        student_watch = await watch(student, "cards", [started.pk])
        card = await receive(student_watch)
        tutor_watch = await watch(tutor, "cards", [started.pk])
        await receive(tutor_watch)
        presence = await socket(f"/ws/whiteboard/sessions/{started.whiteboard_id}/", user=student)
        await presence.connect()
        await receive_type(presence, "welcome")
        live_card = await receive(tutor_watch)
        await presence.disconnect(code=1000)
        for ws in (student_watch, tutor_watch):
            await ws.disconnect()
        return card, live_card

    card, live_card = run(scenario)
    assert card["type"] == "card" and "Join whiteboard" in card["html"]
    assert "Not joined yet" in card["html"]
    # While it runs undecided, a card says per participant what the whiteboard shows (attendance.display).
    assert 'data-testid="live-student"' in live_card["html"] and "On the whiteboard" in live_card["html"]


@pytest.mark.parametrize(
    ("who", "view"),
    [("student", "session"), ("other_tutor", "session"), ("other_tutor", "cards"), ("other_student", "cards")],
)
def test_sessions_the_page_would_not_show_are_4404(started, who, view, request):
    user = request.getfixturevalue(who)

    async def scenario():
        ws = await watch(user, view, [started.pk])
        return await closed_with(ws)

    error, code = run(scenario)
    assert code == 4404 and error["code"] == "not_found"


def test_staff_may_watch_any_session(started, staff):
    async def scenario():
        ws = await watch(staff, "session", [started.pk])
        message = await receive(ws)
        await ws.disconnect()
        return message

    assert run(scenario)["type"] == "session"


@pytest.mark.parametrize("origin", [b"http://testserver", None])
def test_without_a_signed_in_browser_it_is_4401(started, origin, tutor):
    async def scenario():
        # No Origin: not a browser, so its cookie is ignored; a browser without a session is anonymous.
        ws = await socket("/ws/live/", user=tutor if origin is None else None, origin=origin)
        await ws.connect()
        return await closed_with(ws)

    assert run(scenario)[1] == 4401


@pytest.mark.parametrize(
    "message",
    [
        "nope",
        {"type": "ping"},
        {"type": "watch", "view": "everything", "sessions": [1]},
        {"type": "watch", "view": "session", "sessions": []},
        {"type": "watch", "view": "session", "sessions": ["1"]},
        {"type": "watch", "view": "session", "sessions": list(range(1, 300))},
        '{"type": "watch", "x": ' + "[" * 1500 + "]" * 1500 + "}",  # too deep for the parser: not a crash
    ],
)
def test_a_malformed_watch_is_4400(started, tutor, message):
    async def scenario():
        ws = await socket("/ws/live/", user=tutor)
        await ws.connect()
        await send(ws, message)
        return await closed_with(ws)

    assert run(scenario)[1] == 4400


def test_the_polling_fallback_answers_the_same_messages(started, tutor, client):
    client.force_login(tutor)
    response = client.get(f"/live/fragments?view=session&sessions={started.pk}")
    assert response.status_code == 200
    (message,) = response.json()["messages"]
    assert message["type"] == "session" and "presence" in message["fragments"]
    assert client.get("/live/fragments?view=session&sessions=x").status_code == 400
    assert client.get("/live/fragments?view=session&sessions=999999").status_code == 404
