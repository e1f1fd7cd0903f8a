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
    4429: "too many messages (WEBSOCKET_MAX_MESSAGES per WEBSOCKET_MESSAGE_WINDOW s)",
}
DOMAIN_CLOSE_CODES = {"not_found": 4404, "outside_presence_window": 4408}

# Channel-layer message type (group → consumers): handled by PresenceConsumer.presence_changed.
PRESENCE_CHANGED = "presence.changed"


def whiteboard_group(whiteboard_id: int) -> str:
    return f"whiteboard.{whiteboard_id}"


@receiver(presence_changed, dispatch_uid="whiteboard.live.push_presence")
def push_presence(sender, whiteboard_id: int, **kwargs):
    group_send(
        whiteboard_group(whiteboard_id),
        {"type": PRESENCE_CHANGED, "presence": presence_summary(whiteboard_id=whiteboard_id)},
    )
