"""The board on the presence socket (issue 16): every message type, every limit, replay order, undo/clear, outsiders."""

import json

import pytest
from channels.db import database_sync_to_async

from tests.conftest import T0
from tests.ws import closed_with, receive, run, send, socket
from whiteboard.models import Board, BoardStroke, Connection

pytestmark = pytest.mark.django_db(transaction=True)

PEN = {"type": "stroke.begin", "tool": "pen", "colour": "#3a47c5", "width": 4}


@pytest.fixture(autouse=True)
def _driven_by_the_test(settings):
    settings.WEBSOCKET = {**settings.WEBSOCKET, "FLUSH_INTERVAL": 0, "SWEEP_INTERVAL": 0, "DB_THREAD_POOL": False}


@pytest.fixture
def started(clock, session):
    clock.at(T0)
    return session


def path(session) -> str:
    return f"/ws/whiteboard/sessions/{session.whiteboard_id}/"


async def opened(session, user):
    ws = await socket(path(session), user=user)
    connected, _ = await ws.connect()
    assert connected
    assert (await receive(ws))["type"] == "welcome"
    return ws


async def pair(session, tutor, student):
    """Both participants' sockets, with the tutor's "student joined" push already read."""
    tutor_ws = await opened(session, tutor)
    student_ws = await opened(session, student)
    assert (await receive(tutor_ws))["type"] == "presence"  # the student joined
    return tutor_ws, student_ws


async def receive_type(ws, kind: str) -> dict:
    """The next message of this type, skipping others (presence pushes, the other participant's strokes)."""
    while True:
        message = await receive(ws)
        if message["type"] == kind:
            return message


async def draw(ws, points_batches, begin=PEN, end=True):
    await send(ws, {**begin, "id": "local-1", "points": points_batches[0]})
    begun = await receive_type(ws, "stroke.begun")
    for batch in points_batches[1:]:
        await send(ws, {"type": "stroke.points", "points": batch})
    if end:
        await send(ws, {"type": "stroke.end"})
    return begun


async def replay(ws) -> list[dict]:
    await send(ws, {"type": "replay"})
    pages = []
    while True:
        page = await receive_type(ws, "board.replay")
        pages.append(page)
        if page["done"]:
            return pages


async def nothing_more(ws) -> bool:
    return await ws.receive_nothing(timeout=0.2)


# --- every message type -----------------------------------------------------------------------------


def test_a_stroke_reaches_the_other_participant_live_batch_by_batch(started, tutor, student):
    async def scenario():
        tutor_ws, student_ws = await pair(started, tutor, student)
        begun = await draw(tutor_ws, [[10, 10], [20, 20, 30, 30], [40, 40]])
        heard = [await receive_type(student_ws, kind) for kind in ("stroke.begin", "stroke.points", "stroke.points")]
        heard.append(await receive_type(student_ws, "stroke.end"))
        quiet = await nothing_more(tutor_ws)  # the author hears only its sequence number
        await tutor_ws.disconnect(code=1000)
        await student_ws.disconnect(code=1000)
        return begun, heard, quiet

    begun, heard, quiet = run(scenario)
    assert begun == {"type": "stroke.begun", "sequence": 1, "id": "local-1"}
    assert heard[0] == {
        "type": "stroke.begin",
        "sequence": 1,
        "role": "tutor",
        "tool": "pen",
        "colour": "#3a47c5",
        "width": 4,
        "points": [10, 10],
    }
    assert [(m["offset"], m["points"]) for m in heard[1:]] == [(2, [20, 20, 30, 30]), (6, [40, 40]), (8, [])]
    assert quiet
    stroke = BoardStroke.objects.get()
    assert stroke.points == [10, 10, 20, 20, 30, 30, 40, 40] and stroke.ended_at == T0 and stroke.role == "tutor"


def test_replay_gives_the_whole_board_in_sequence_order_in_pages(started, tutor, student, settings):
    settings.BOARD = {**settings.BOARD, "REPLAY_PAGE": 2}

    async def scenario():
        tutor_ws, student_ws = await pair(started, tutor, student)
        for n in range(3):
            await draw(tutor_ws, [[n, n]])
            await draw(student_ws, [[n, 100 + n]], begin={**PEN, "tool": "eraser", "colour": "#ffffff", "width": 20})
        await draw(tutor_ws, [[9, 9]], end=False)  # still being drawn: replayed too
        late = await opened(started, student)  # a second device, a reload or a late joiner
        pages = await replay(late)
        for ws in (tutor_ws, student_ws, late):
            await ws.disconnect(code=1000)
        return pages

    pages = run(scenario)
    assert [len(p["strokes"]) for p in pages] == [2, 2, 2, 1] and [p["after"] for p in pages] == [0, 2, 4, 6]
    strokes = [s for p in pages for s in p["strokes"]]
    assert [s["sequence"] for s in strokes] == [1, 2, 3, 4, 5, 6, 7]
    assert [s["role"] for s in strokes] == ["tutor", "student"] * 3 + ["tutor"]
    assert strokes[1]["tool"] == "eraser" and strokes[1]["width"] == 20 and strokes[1]["points"] == [0, 100]
    assert [s["ended"] for s in strokes] == [True] * 6 + [False]
    assert pages[-1]["last_sequence"] == 7


def test_a_socket_asking_for_replays_too_often_is_answered_throttled(started, student, settings):
    settings.BOARD = {**settings.BOARD, "REPLAYS_PER_MINUTE": 2}

    async def scenario():
        ws = await opened(started, student)
        await replay(ws)
        await replay(ws)
        await send(ws, {"type": "replay"})
        refused = await receive_type(ws, "board.error")
        await draw(ws, [[1, 1]])  # the socket stays open and the board goes on
        await ws.disconnect()
        return refused

    refused = run(scenario)
    assert refused["code"] == "throttled" and refused["request"] == "replay"


def test_undo_takes_back_the_authors_last_stroke_for_everyone(started, tutor, student):
    async def scenario():
        tutor_ws, student_ws = await pair(started, tutor, student)
        await draw(student_ws, [[1, 1]])
        await draw(tutor_ws, [[2, 2]])
        await send(student_ws, {"type": "undo"})
        to_author = await receive_type(student_ws, "stroke.undone")
        to_other = await receive_type(tutor_ws, "stroke.undone")
        await send(student_ws, {"type": "undo"})  # the tutor's stroke is not the student's to undo
        refused = await receive_type(student_ws, "board.error")
        pages = await replay(student_ws)
        await tutor_ws.disconnect(code=1000)
        await student_ws.disconnect(code=1000)
        return to_author, to_other, refused, pages

    to_author, to_other, refused, pages = run(scenario)
    assert to_author == to_other == {"type": "stroke.undone", "sequence": 1}
    assert refused["code"] == "nothing_to_undo" and refused["request"] == "undo"
    assert [s["sequence"] for s in pages[0]["strokes"]] == [2]


def test_only_the_tutor_clears_the_board(started, tutor, student):
    async def scenario():
        tutor_ws, student_ws = await pair(started, tutor, student)
        await draw(student_ws, [[1, 1]])
        await send(student_ws, {"type": "clear"})
        refused = await receive_type(student_ws, "board.error")
        kept = await replay(student_ws)
        await send(tutor_ws, {"type": "clear"})
        cleared = [await receive_type(ws, "board.cleared") for ws in (tutor_ws, student_ws)]
        await draw(student_ws, [[5, 5]])
        after = await replay(tutor_ws)
        await tutor_ws.disconnect(code=1000)
        await student_ws.disconnect(code=1000)
        return refused, kept, cleared, after

    refused, kept, cleared, after = run(scenario)
    assert refused["code"] == "permission_denied"  # and the socket stays open: it still replays
    assert [s["sequence"] for s in kept[0]["strokes"]] == [1]
    assert cleared == [{"type": "board.cleared", "sequence": 2}] * 2
    assert [s["sequence"] for s in after[0]["strokes"]] == [3] and after[0]["cleared_through"] == 2


def test_points_or_an_end_without_a_stroke_are_answered_not_stored(started, student):
    async def scenario():
        ws = await opened(started, student)
        await send(ws, {"type": "stroke.points", "points": [1, 1]})
        first = await receive_type(ws, "board.error")
        await send(ws, {"type": "stroke.end"})
        second = await receive_type(ws, "board.error")
        await ws.disconnect(code=1000)
        return first, second

    first, second = run(scenario)
    assert first["code"] == second["code"] == "no_stroke"
    assert not BoardStroke.objects.exists()


def test_a_new_begin_ends_the_stroke_left_open(started, student):
    async def scenario():
        ws = await opened(started, student)
        await draw(ws, [[1, 1]], end=False)
        await draw(ws, [[2, 2]], end=False)
        await ws.disconnect(code=1000)

    run(scenario)
    assert [s.ended_at is not None for s in BoardStroke.objects.order_by("sequence")] == [True, False]


# --- limits -------------------------------------------------------------------------------------------


def test_a_stroke_over_max_points_is_refused_and_the_stroke_keeps_its_points(started, student, settings):
    settings.BOARD = {**settings.BOARD, "MAX_POINTS": 3}

    async def scenario():
        ws = await opened(started, student)
        await draw(ws, [[1, 1, 2, 2]], end=False)
        await send(ws, {"type": "stroke.points", "points": [3, 3, 4, 4]})
        error = await receive_type(ws, "board.error")
        await send(ws, {"type": "stroke.begin", **{k: v for k, v in PEN.items() if k != "type"}, "points": [0] * 8})
        too_long_begin = await receive_type(ws, "board.error")
        await ws.disconnect(code=1000)
        return error, too_long_begin

    error, too_long_begin = run(scenario)
    assert error["code"] == too_long_begin["code"] == "stroke_too_long"
    assert [s.points for s in BoardStroke.objects.all()] == [[1, 1, 2, 2]]


def test_a_full_board_refuses_more_strokes(started, student, settings):
    settings.BOARD = {**settings.BOARD, "MAX_STROKES": 1}

    async def scenario():
        ws = await opened(started, student)
        await draw(ws, [[1, 1]])
        await send(ws, {**PEN, "points": [2, 2]})
        error = await receive_type(ws, "board.error")
        await ws.disconnect(code=1000)
        return error

    assert run(scenario)["code"] == "board_full"
    assert BoardStroke.objects.count() == 1


def test_a_board_message_over_64_kb_is_4400_and_nothing_changes(started, student):
    async def scenario():
        ws = await opened(started, student)
        await draw(ws, [[1, 1]], end=False)
        big = json.dumps({"type": "stroke.points", "points": [1.123456789] * 7000})
        assert len(big) > 64 * 1024
        await send(ws, big)
        return await closed_with(ws)

    error, code = run(scenario)
    assert code == 4400 and error["code"] == "malformed"
    assert BoardStroke.objects.get().points == [1, 1]


def test_a_board_message_under_64_kb_is_fine(started, student):
    async def scenario():
        ws = await opened(started, student)
        await draw(ws, [[1.5, 2.5] * 2000])  # 2,000 points, about 20 KB: over the presence messages' 4 KB
        await ws.disconnect(code=1000)

    run(scenario)
    assert len(BoardStroke.objects.get().points) == 4000


def test_more_than_30_board_messages_a_second_is_4429(started, student, settings):
    settings.WEBSOCKET = {**settings.WEBSOCKET, "MAX_MESSAGES": 5}  # the presence limit does not apply to drawing

    async def scenario():
        ws = await opened(started, student)
        await draw(ws, [[1, 1]] * 30, end=False)  # 30 board messages: begin and 29 batches
        await send(ws, {"type": "stroke.points", "points": [2, 2]})
        return await closed_with(ws)

    error, code = run(scenario)
    assert code == 4429 and error["code"] == "throttled"
    assert len(BoardStroke.objects.get().points) <= 60  # the 31st batch was not stored
    assert Connection.objects.get().close_reason == "disconnect"


@pytest.mark.parametrize(
    "message",
    [
        {**PEN, "colour": "blue"},
        {**PEN, "tool": "spray"},
        {**PEN, "width": 0},
        {**PEN, "width": "4"},
        {**PEN, "points": [1, 2, 3]},
        {**PEN, "points": [1, "2"]},
        {**PEN, "points": {"x": 1}},
        {**PEN, "id": 7},
        {"type": "stroke.points", "points": [1, -5]},
        {"type": "stroke.points"},
        {"type": "stroke.end", "points": "1,1"},
    ],
)
def test_a_malformed_board_message_is_4400_and_nothing_stored_changes(started, student, message):
    async def scenario():
        ws = await opened(started, student)
        await draw(ws, [[1, 1]], end=False)
        await send(ws, message)
        return await closed_with(ws)

    error, code = run(scenario)
    assert code == 4400 and error["code"] == "malformed"
    stroke = BoardStroke.objects.get()
    assert stroke.points == [1, 1] and stroke.ended_at is None


# --- who may draw and hear ------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["other_student", "staff"])
def test_outsiders_get_4404_and_hear_nothing(started, tutor, who, request):
    outsider = request.getfixturevalue(who)

    async def scenario():
        tutor_ws = await opened(started, tutor)
        ws = await socket(path(started), user=outsider)
        await ws.connect()
        closed = await closed_with(ws)
        await draw(tutor_ws, [[1, 1]])
        await tutor_ws.disconnect(code=1000)
        return closed

    error, code = run(scenario)
    assert code == 4404 and error["code"] == "not_found"


def test_a_board_message_before_authentication_is_4401(started):
    async def scenario():
        ws = await socket(path(started), origin=None)
        await ws.connect()
        await send(ws, {**PEN, "points": [1, 1]})
        return await closed_with(ws)

    assert run(scenario)[1] == 4401
    assert not BoardStroke.objects.exists()


def test_the_read_only_view_gives_staff_the_strokes_and_records_no_presence(started, tutor, staff, other_tutor, api):
    async def scenario():
        ws = await opened(started, tutor)
        await draw(ws, [[1, 1]])
        await draw(ws, [[2, 2]])
        await ws.disconnect(code=1000)

    run(scenario)
    before = Connection.objects.count()
    url = f"/api/whiteboard/sessions/{started.whiteboard_id}/strokes"
    response = api(staff).get(url, {"after": 1})
    assert response.status_code == 200, response.content
    assert [s["sequence"] for s in response.json()["strokes"]] == [2]
    assert Connection.objects.count() == before
    assert api(other_tutor).get(url).status_code == 404
    assert api(staff).get(url, {"after": "x"}).status_code == 400


# --- points are sent at once and written about once a second ----------------------------------------------


def test_points_reach_the_other_side_before_they_are_written_and_are_written_at_the_end(
    started, tutor, student, settings
):
    settings.BOARD = {**settings.BOARD, "SAVE_INTERVAL": 3600}

    async def scenario():
        tutor_ws, student_ws = await pair(started, tutor, student)
        await draw(tutor_ws, [[1, 1], [2, 2], [3, 3]], end=False)
        await receive_type(student_ws, "stroke.points")
        heard = await receive_type(student_ws, "stroke.points")
        stored_while_drawing = await database_sync_to_async(lambda: BoardStroke.objects.get().points)()
        await send(tutor_ws, {"type": "stroke.end", "points": [4, 4]})
        end = await receive_type(student_ws, "stroke.end")
        await tutor_ws.disconnect(code=1000)
        await student_ws.disconnect(code=1000)
        return heard, stored_while_drawing, end

    heard, stored_while_drawing, end = run(scenario)
    assert heard["offset"] == 4 and stored_while_drawing == [1, 1]  # sent on, not written yet
    assert end["offset"] == 6
    stroke = BoardStroke.objects.get()
    assert stroke.points == [1, 1, 2, 2, 3, 3, 4, 4] and stroke.ended_at is not None


def test_a_long_stroke_is_written_every_save_interval(started, student, settings):
    settings.BOARD = {**settings.BOARD, "SAVE_INTERVAL": 0}

    async def scenario():
        ws = await opened(started, student)
        await draw(ws, [[1, 1], [2, 2]], end=False)
        await send(ws, {"type": "replay"})  # after the batch: the socket handles messages in order
        page = await receive_type(ws, "board.replay")
        await ws.disconnect(code=1000)
        return page

    assert run(scenario)["strokes"][0]["points"] == [1, 1, 2, 2]


def test_a_socket_that_goes_mid_stroke_writes_what_it_drew(started, student, settings):
    settings.BOARD = {**settings.BOARD, "SAVE_INTERVAL": 3600}

    async def scenario():
        ws = await opened(started, student)
        await draw(ws, [[1, 1], [2, 2]], end=False)
        await send(ws, {"type": "ping"})
        await receive_type(ws, "pong")
        await ws.disconnect(code=1006)

    run(scenario)
    stroke = BoardStroke.objects.get()
    assert stroke.points == [1, 1, 2, 2] and stroke.ended_at is None


def test_drawing_seconds_are_the_servers_seconds_in_which_points_arrived(started, student, clock, settings):
    settings.BOARD = {**settings.BOARD, "SAVE_INTERVAL": 3600}

    async def scenario():
        ws = await opened(started, student)
        await send(ws, {**PEN, "points": [1, 1]})  # second 0
        await receive_type(ws, "stroke.begun")
        for advance in (0.3, 0.3, 0.6, 5):  # seconds 0, 0, 1, 6
            clock.advance(advance)
            await send(ws, {"type": "stroke.points", "points": [2, 2]})
            await send(ws, {"type": "ping"})  # handled after the batch: the clock moves on only then
            await receive_type(ws, "pong")
        await send(ws, {"type": "stroke.end"})
        await send(ws, {"type": "ping"})
        await receive_type(ws, "pong")
        await ws.disconnect(code=1000)

    run(scenario)
    board_row = Board.objects.get()
    assert board_row.student_drawing_seconds == 3 and board_row.student_strokes == 1
