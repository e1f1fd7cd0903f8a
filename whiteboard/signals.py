from django.db import transaction
from django.dispatch import Signal

# Sent after the transaction that changed a whiteboard's presence commits (connect, disconnect,
# visibility change, timeout; not plain liveness), with `whiteboard_id`. Receivers: the whiteboard's
# own live group (whiteboard/live.py) and, above it, attendance's pages (attendance/live.py).
presence_changed = Signal()


def presence_announce(*, whiteboard_id: int) -> None:
    """Send `presence_changed` once the caller's transaction commits (the presence services call it).

    Never for a rolled-back change; a push that fails (Redis down) is only logged (core/live.py).
    """
    from whiteboard.models import WhiteboardSession

    transaction.on_commit(lambda: presence_changed.send(sender=WhiteboardSession, whiteboard_id=whiteboard_id))
