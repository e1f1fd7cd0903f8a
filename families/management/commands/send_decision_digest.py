from django.core.management.base import BaseCommand

from families.services import decision_digest_send


class Command(BaseCommand):
    help = (
        "E-mail each tutor the ended sessions still waiting for their attendance decision. "
        "For cron, once a day; running it again the same day sends nothing new."
    )

    def handle(self, *args, **options):
        report = decision_digest_send()
        for tutor, count in report.sent:
            self.stdout.write(f"Sent {tutor.get_username()} ({tutor.email}) a digest of {count} session(s).")
        for tutor, count in report.already_sent:
            self.stdout.write(f"Skipped {tutor.get_username()}: today's digest ({count} session(s)) was sent already.")
        for tutor, count in report.not_sent:
            reason = "no e-mail address" if not tutor.email else "the mail server failed (see the log)"
            self.stderr.write(f"Could not send {tutor.get_username()} a digest of {count} session(s): {reason}.")
        self.stdout.write(
            f"Digest for {report.day.isoformat()}: {len(report.sent)} sent, {len(report.already_sent)} sent earlier, "
            f"{len(report.not_sent)} not sent."
        )
