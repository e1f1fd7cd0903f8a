from django.core.management.base import BaseCommand

from attendance.services import attendance_finalize


class Command(BaseCommand):
    help = (
        "Settle ended sessions nobody marked: apply whiteboard suggestions that are sure enough, "
        "leave the rest for the tutor. For cron, every few minutes; safe to run concurrently."
    )

    def handle(self, *args, **options):
        def progress(done, total):
            if total >= 200 and (done % 100 == 0 or done == total):
                self.stdout.write(f"  {done}/{total} sessions ({done * 100 // total}%)")

        report = attendance_finalize(progress=progress)
        self.stdout.write(
            f"Applied the suggestion to {report.applied} session(s); "
            f"left {report.left_for_tutor} for the tutor's decision; "
            f"{report.skipped} taken by another run."
        )
        for session_id, why in report.presence_unknown.items():
            self.stdout.write(f"  session {session_id} left for the tutor, presence unknown: {why}")
