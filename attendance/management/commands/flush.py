"""Django's flush, refusing while attendance history exists (it would wipe it).

The test suite's clean-up (pytest-django flushes after transactional tests) goes through here too: it
turns on the truncate switch (`attendance.history_protection.history_truncate_switch`), which only
config/test_settings.py allows and, on PostgreSQL, only the table's owner can use.
"""

from django.conf import settings
from django.core.management.commands import flush

from attendance.history_protection import history_truncate_switch, history_wipe_refuse


class Command(flush.Command):
    def handle(self, **options):
        database = options["database"]
        if not settings.ATTENDANCE_HISTORY_TRUNCATE_ALLOWED:
            history_wipe_refuse(action="flush the database", using=database)
            return super().handle(**options)
        with history_truncate_switch(using=database):
            return super().handle(**options)
