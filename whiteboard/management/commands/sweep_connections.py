from django.core.management.base import BaseCommand

from whiteboard.services import presence_sweep


class Command(BaseCommand):
    help = "Close whiteboard connections nobody heard from within the timeout (cron, e.g. every minute)."

    def handle(self, *args, **options):
        closed = presence_sweep()
        self.stdout.write(f"Closed {closed} stale connection(s).")
