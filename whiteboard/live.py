"""What the whiteboard pushes over WebSockets: its group names and message types, in one place.

The presence socket's messages and close codes are documented once, in docs/websockets.md (also
shown in the API docs); the constants below are the code's side of that table.
"""

from django.dispatch import receiver

from core.live import group_send
from whiteboard.selectors import presence_summary
from whiteboard.signals import presence_changed

# Close codes of the presence socket (the watcher socket, attendance/live.py, uses the same numbers).
CLOSE_CODES = {
    4000: "silent: nothing heard within the presence timeout (45 s visible, 150 s hidden); connect again",
    4400: "malformed message (not JSON, not an object, unknown type or value)",
    4401: "not signed in, bad token, or a first message that is not `auth` from a client without a session",
    4404: "not a participant of this whiteboard session (the HTTP API's 404)",
    4408: "outside the session's presence window (PRESENCE_JOIN_WINDOW_MINUTES either side of it)",
    4429: "too many messages (WEBSOCKET_MAX_MESSAGES per WEBSOCKET_MESSAGE_WINDOW s; board: BOARD_MAX_MESSAGES_PER_SECOND)",
}
DOMAIN_CLOSE_CODES = {"not_found": 4404, "outside_presence_window": 4408}

# Channel-layer message type (group → consumers): handled by PresenceConsumer.presence_changed.
PRESENCE_CHANGED = "presence.changed"
# Channel-layer message type carrying one board event to the whiteboard's sockets: PresenceConsumer.board_event.
BOARD_EVENT = "board.event"

# The board's messages on the presence socket (issue 16; docs/websockets.md lists their fields).
STROKE_BEGIN = "stroke.begin"  # client → server → the other sockets
STROKE_POINTS = "stroke.points"
STROKE_END = "stroke.end"
UNDO = "undo"  # client → server
CLEAR = "clear"
REPLAY = "replay"  # client → server: send me the board (answered with board.replay pages)
BOARD_MESSAGES = frozenset({STROKE_BEGIN, STROKE_POINTS, STROKE_END, UNDO, CLEAR, REPLAY})
STROKE_BEGUN = "stroke.begun"  # server → the drawing socket: its stroke's sequence number
STROKE_UNDONE = "stroke.undone"  # server → every socket
BOARD_CLEARED = "board.cleared"
BOARD_REPLAY = "board.replay"  # server → a socket that just opened: the board, in pages
BOARD_ERROR = "board.error"  # server → the sender: a limit or rule said no; the socket stays open
# Board refusals that close the socket (anything else is answered with board.error).
BOARD_CLOSE_CODES = {"malformed": 4400, "not_found": 4404}


def whiteboard_group(whiteboard_id: int) -> str:
    return f"whiteboard.{whiteboard_id}"


@receiver(presence_changed, dispatch_uid="whiteboard.live.push_presence")
def push_presence(sender, whiteboard_id: int, **kwargs):
    group_send(
        whiteboard_group(whiteboard_id),
        {"type": PRESENCE_CHANGED, "presence": presence_summary(whiteboard_id=whiteboard_id)},
    )
