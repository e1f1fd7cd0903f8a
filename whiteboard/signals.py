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


# Sent inside the transaction that records a participant arriving on the whiteboard (`event` "joined":
# none of their connections was alive) or leaving it ("left": their last connection closed or timed
# out), under the whiteboard's row lock; with `whiteboard_id`, `role`, `event`, `reason` (connect,
# disconnect, timeout) and `at` (the arrival, or the last signal heard). A receiver's writes commit or
# roll back with the change; one that must not roll it back catches its own errors. Receivers: webhooks.
presence_recorded = Signal()


def presence_record(*, whiteboard_id: int, role: str, event: str, reason: str, at) -> None:
    """Send `presence_recorded` now, inside the caller's transaction (the presence services call it)."""
    from whiteboard.models import WhiteboardSession

    presence_recorded.send(
        sender=WhiteboardSession, whiteboard_id=whiteboard_id, role=role, event=event, reason=reason, at=at
    )
