from django.dispatch import Signal

# Sent after the transaction that recorded an attendance change commits (never for a
# rolled-back one), with `change` (an AttendanceChange). Receivers: notifications.
attendance_changed = Signal()
