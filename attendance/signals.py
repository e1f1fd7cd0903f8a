from django.dispatch import Signal

# Both carry `change` (an AttendanceChange), one per recorded change.
#
# Sent inside the transaction that records the change, after its history row is written, under the
# session's row lock. A receiver's writes commit or roll back with the change; a receiver that raises
# rolls the change back, so one that must not do that catches its own errors (in a savepoint). Work
# outside the database (enqueueing, pushing, mailing) belongs in transaction.on_commit. Receivers: the
# e-mail notification rows (families), the webhook deliveries (webhooks).
attendance_recorded = Signal()

# Sent after that transaction commits (never for a rolled-back change). Receivers: live pages.
attendance_changed = Signal()

# Sent when a run of absences, lateness or tutor no-shows first reaches its alert threshold
# (once per run), after the change that completed it committed; with `streak` (an
# AttendanceStreak). Receivers: notifications to admins and parents.
streak_opened = Signal()
