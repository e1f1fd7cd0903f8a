"""The shared board's side of the presence socket (issue 16): a mixin of `PresenceConsumer`, a thin door onto
whiteboard/board.py. Message types: whiteboard/live.py; documented in docs/websockets.md.

A stroke's points are fanned out to the other participant as soon as they are validated and within the
stroke's limit, and written to the stroke's row about once a second (BOARD["SAVE_INTERVAL"]) and at its
end, with the server seconds they arrived in (for engagement). Why: written batch by batch, every 50 ms
batch was a transaction before its fan-out, and bench/board_bench.py measured a room's fan-out p99 at
0.7 s from 10 strokes a second and 1,000 rooms drawing at a human pace queueing for seconds (commits,
not CPU, were the limit). Now a short stroke costs two transactions (begin, end). The price, bounded:
a reload in the middle of someone's stroke may replay up to a second less of that stroke than was drawn
(the page bridges the gap with the next live batch), and a node that dies loses at most the last second
of the strokes being drawn on it. Malformed input still changes nothing: it is refused before anything
is sent or kept.
"""

import contextlib
import json
import time

from django.conf import settings
from django.utils import timezone

from core.errors import DomainError
from core.live import RecentEvents, in_db_thread
from whiteboard import board
from whiteboard.live import (
    BOARD_CLEARED,
    BOARD_CLOSE_CODES,
    BOARD_ERROR,
    BOARD_EVENT,
    BOARD_REPLAY,
    REPLAY,
    STROKE_BEGIN,
    STROKE_BEGUN,
    STROKE_END,
    STROKE_UNDONE,
    UNDO,
    whiteboard_group,
)


class BoardMessages:
    """Per socket: the stroke it is drawing (sequence, points so far) and the points not yet written."""

    def board_setup(self) -> None:
        self.stroke: int | None = None
        self.stroke_numbers = 0  # numbers (x and y) the stroke has, written or not: the next batch's offset
        self.unsaved: list = []
        self.unsaved_seconds: set[int] = set()
        self.unsaved_since: float | None = None
        self.replays = RecentEvents()  # this socket's replays

    async def board_message(self, kind: str, message: dict) -> None:
        try:
            if kind == REPLAY:
                self._check_replay_rate()
                await self._send_replay()
            elif kind == STROKE_BEGIN:
                await self._begin(message)
            elif kind in (STROKE_END, "stroke.points"):
                await self._points(kind, message)
            else:
                await self._save_points()  # the stored stroke is whole before it is undone or cleared
                where = {"whiteboard_id": self.whiteboard_id, "user": self.user}
                if kind == UNDO:
                    sequence = await in_db_thread(board.board_undo)(**where)
                    if sequence == self.stroke:
                        self._forget_stroke()
                    await self._fan_out({"type": STROKE_UNDONE, "sequence": sequence}, to_self=True)
                else:
                    sequence = await in_db_thread(board.board_clear)(**where)
                    self._forget_stroke()
                    await self._fan_out({"type": BOARD_CLEARED, "sequence": sequence}, to_self=True)
        except DomainError as error:
            if error.code in BOARD_CLOSE_CODES:
                return await self.refuse(BOARD_CLOSE_CODES[error.code], error.code, error.message)
            if error.code in ("no_stroke", "stroke_ended"):
                self._forget_stroke()
            await self.send(
                text_data=json.dumps(
                    {"type": BOARD_ERROR, "code": error.code, "detail": error.message, "request": kind}
                )
            )

    async def board_closed(self) -> None:
        """The socket is gone: write what it drew and did not write yet (the stroke stays open)."""
        if self.stroke is not None and self.unsaved:
            with contextlib.suppress(DomainError):
                await self._save_points()

    # --- strokes ------------------------------------------------------------------------------------
    async def _begin(self, message: dict) -> None:
        tag = message.get("id")
        if tag is not None and (type(tag) is not str or len(tag) > 64):
            raise DomainError("id must be a string of at most 64 characters.", "malformed")
        style = board.board_style(
            tool=message.get("tool", "pen"), colour=message.get("colour"), width=message.get("width")
        )
        points = board.board_points(message.get("points", []))  # malformed: nothing changes, not even an open stroke
        if self.stroke is not None:  # a begin without an end: the earlier stroke ends here
            with contextlib.suppress(DomainError):
                await self._save_points(end=True)
            self._forget_stroke()
        tool, colour, width = style
        stroke = await in_db_thread(board.board_stroke_begin)(
            whiteboard_id=self.whiteboard_id, user=self.user, tool=tool, colour=colour, width=width, points=points
        )
        self.stroke, self.stroke_numbers = stroke.sequence, len(points)
        await self.send(text_data=json.dumps({"type": STROKE_BEGUN, "sequence": stroke.sequence, "id": tag}))
        event = {"type": STROKE_BEGIN, "sequence": stroke.sequence, "role": stroke.role, "tool": tool}
        await self._fan_out(event | {"colour": colour, "width": width, "points": points})

    async def _points(self, kind: str, message: dict) -> None:
        end = kind == STROKE_END
        points = board.board_points(message.get("points", [] if end else None))
        if self.stroke is None:
            raise DomainError("This socket is not drawing a stroke; send stroke.begin first.", "no_stroke")
        board.check_length(self.stroke_numbers + len(points))  # over the limit: refused, nothing kept or sent
        offset = self.stroke_numbers
        self.stroke_numbers += len(points)
        if points:
            self.unsaved += points
            self.unsaved_seconds.add(int(timezone.now().timestamp()))  # the server's second, never the client's
            if self.unsaved_since is None:
                self.unsaved_since = time.monotonic()
        await self._fan_out({"type": kind, "sequence": self.stroke, "offset": offset, "points": points})
        if end:
            await self._save_points(end=True)
        elif (
            self.unsaved_since is not None and time.monotonic() - self.unsaved_since >= settings.BOARD["SAVE_INTERVAL"]
        ):
            await self._save_points()

    async def _save_points(self, *, end: bool = False) -> None:
        if self.stroke is None:
            return
        sequence, points, seconds = self.stroke, self.unsaved, sorted(self.unsaved_seconds)
        self.unsaved, self.unsaved_seconds, self.unsaved_since = [], set(), None
        if end:
            self._forget_stroke()
        if points or end:
            await in_db_thread(board.board_stroke_append)(
                whiteboard_id=self.whiteboard_id,
                user=self.user,
                sequence=sequence,
                points=points,
                end=end,
                seconds=seconds,
            )

    def _forget_stroke(self) -> None:
        self.stroke, self.stroke_numbers = None, 0
        self.unsaved, self.unsaved_seconds, self.unsaved_since = [], set(), None

    async def _fan_out(self, event: dict, *, to_self: bool = False) -> None:
        """To the whiteboard's group: the other participant and the author's other tabs (and this socket when
        `to_self`). Serialised once here, not once per receiving socket."""
        await self.channel_layer.group_send(
            whiteboard_group(self.whiteboard_id),
            {"type": BOARD_EVENT, "text": json.dumps(event), "origin": self.channel_name, "to_origin": to_self},
        )

    def _check_replay_rate(self) -> None:
        """A replay reads and sends the whole board: a socket may ask BOARD["REPLAYS_PER_MINUTE"] times a
        minute (a page asks once per (re)connect), so one participant cannot keep the server re-reading it."""
        if not self.replays.admit(limit=settings.BOARD["REPLAYS_PER_MINUTE"], seconds=60):
            raise DomainError("The board was replayed to this socket too often; wait a minute.", "throttled")

    async def _send_replay(self) -> None:
        """The whole board as stored, a page (BOARD["REPLAY_PAGE"] strokes) per message, in sequence order."""
        after = 0
        while True:
            page = await in_db_thread(board.board_replay)(whiteboard_id=self.whiteboard_id, after=after)
            done = page["next_after"] is None
            await self.send(text_data=json.dumps({"type": BOARD_REPLAY, "after": after, "done": done, **page}))
            if done:
                return
            after = page["next_after"]

    async def board_event(self, event):
        if (
            not self.closing
            and self.connection_id is not None
            and (event["to_origin"] or event["origin"] != self.channel_name)
        ):
            await self.send(text_data=event["text"])
