import json
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from attendance.retention import presence_detail_purge


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise CommandError("--now needs a time zone, e.g. 2027-01-31T03:00+00:00")
    return moment


class Command(BaseCommand):
    help = (
        "Remove raw presence detail (connection rows, connection log, presence spans) of sessions that ended "
        "more than PRESENCE_RETENTION_DAYS ago, keeping the totals, the suggestion and the attendance history. "
        "Beat runs it daily; safe to run concurrently. Prints the counts as JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count what would be removed, remove nothing")
        parser.add_argument("--batch-size", type=int, default=None, help="whiteboards per transaction")
        parser.add_argument("--now", type=_moment, default=None, help="ISO 8601 moment to count the retention from")

    def handle(self, *args, dry_run, batch_size, now, **options):
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        report = presence_detail_purge(now=now, dry_run=dry_run, batch_size=batch_size)
        self.stdout.write(json.dumps(report.as_dict()))
