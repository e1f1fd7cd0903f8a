"""Django's flush, refusing while attendance history exists (it would wipe it).

The test suite's clean-up (pytest-django flushes after transactional tests) goes through here too: it
turns on the truncate switch (`attendance.history_protection.history_truncate_switch`), which only
config/test_settings.py allows and, on PostgreSQL, only the table's owner can use.
"""

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands import flush

from attendance.history_protection import history_truncate_switch, history_wipe_refuse


class Command(flush.Command):
    def handle(self, **options):
        database = options["database"]
        if not settings.ATTENDANCE_HISTORY_TRUNCATE_ALLOWED:
            history_wipe_refuse(action="flush the database", using=database)
            return super().handle(**options)
        for attempt in range(3):
            try:
                with history_truncate_switch(using=database):
                    return super().handle(**options)
            except CommandError as error:
                # A process the tests started (a live server finishing a page's last request) can hold a
                # row lock while TRUNCATE waits for the table: PostgreSQL breaks that cycle by failing the
                # TRUNCATE. The request ends a moment later, so flushing again succeeds.
                if attempt == 2 or "deadlock" not in str(error.__cause__).lower():
                    raise
        return None
