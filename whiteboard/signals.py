from django.dispatch import Signal

# Sent after the transaction that changed a whiteboard's presence commits (connect, disconnect,
# visibility change, timeout; not plain liveness), with `whiteboard_id`. Receivers: the whiteboard's
# own live group (whiteboard/live.py) and, above it, attendance's pages (attendance/live.py).
presence_changed = Signal()
