from django.dispatch import Signal

# Sent after the transaction that recorded an attendance change commits (never for a
# rolled-back one), with `change` (an AttendanceChange). Receivers: notifications.
attendance_changed = Signal()

# Sent when a run of absences, lateness or tutor no-shows first reaches its alert threshold
# (once per run), after the change that completed it committed; with `streak` (an
# AttendanceStreak). Receivers: notifications to admins and parents.
streak_opened = Signal()
