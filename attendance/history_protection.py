"""Nobody rewrites attendance history: the one refusal every wiping door calls, the switch the test
suite's own clean-up uses, and the grants of the split between the owner role and the app's role.

On PostgreSQL the database enforces it (migrations 0003 and 0010): UPDATE and DELETE are refused row
by row, TRUNCATE is refused while the table holds history unless the session turned on
`attendance.allow_history_truncate` *and* its role owns the table. The app's own role (DATABASE_APP_ROLE)
holds only SELECT and INSERT on the table, so it can neither truncate it nor disable its triggers.
"""

import contextlib

from django.conf import settings
from django.core.management.base import CommandError
from django.db import connections

TRUNCATE_SWITCH = "attendance.allow_history_truncate"


def history_wipe_refuse(*, action: str, sessions=None, using: str = "default") -> None:
    """Refuse `action` (flush, demo reset...) with a clear message while there is history it would wipe.

    `sessions`: only the history of these sessions counts (a queryset); None: the whole table.
    """
    from attendance.models import AttendanceChange

    changes = AttendanceChange.objects.using(using)
    if sessions is not None:
        changes = changes.filter(session__in=sessions)
    count = changes.count()
    if count:
        raise CommandError(
            f"Refusing to {action}: attendance_history holds {count} change(s), and attendance history is "
            "kept for good (the database refuses to update, delete or truncate it). Use a new database "
            "instead."
        )


@contextlib.contextmanager
def history_truncate_switch(*, using: str = "default"):
    """Within the block, this connection may TRUNCATE attendance_history: only when the settings allow
    it (ATTENDANCE_HISTORY_TRUNCATE_ALLOWED: set by config/test_settings.py alone, never read from the
    environment) and, on PostgreSQL, only if the connected role owns the table (the trigger checks)."""
    if not settings.ATTENDANCE_HISTORY_TRUNCATE_ALLOWED:
        raise CommandError("Truncating attendance history is not allowed here (ATTENDANCE_HISTORY_TRUNCATE_ALLOWED).")
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, 'on', false)", [TRUNCATE_SWITCH])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, '', false)", [TRUNCATE_SWITCH])


def app_role_grants(*, role: str, using: str = "default") -> None:
    """Run by `migrate` as the owner role (post_migrate, DATABASE_APP_ROLE): the app's role may read and
    write every table but attendance_history and presence_erasures, where it may only SELECT and INSERT."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    quoted = connection.ops.quote_name(role)
    with connection.cursor() as cursor:
        for statement in (
            f"GRANT USAGE ON SCHEMA public TO {quoted}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}",
            f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
            f"REVOKE ALL ON attendance_history FROM {quoted}",
            f"GRANT SELECT, INSERT ON attendance_history TO {quoted}",
            f"REVOKE ALL ON presence_erasures FROM {quoted}",
            f"GRANT SELECT, INSERT ON presence_erasures TO {quoted}",
        ):
            cursor.execute(statement)


def grant_app_role_after_migrate(sender, using="default", **kwargs) -> None:
    role = settings.DATABASE_APP_ROLE
    if role:
        app_role_grants(role=role, using=using)
