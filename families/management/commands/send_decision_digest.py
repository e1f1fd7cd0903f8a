from django.core.management.base import BaseCommand

from families.tasks import decision_digest_task


class Command(BaseCommand):
    help = (
        "E-mail each tutor the ended sessions still waiting for their attendance decision. Beat runs it daily "
        "(SCHEDULE_DIGEST_AT); running it again the same day sends nothing new. The e-mails are queued (sent "
        "here and now without a broker)."
    )

    def handle(self, *args, **options):
        report = decision_digest_task()
        for username, count in report["queued"]:
            self.stdout.write(f"Queued {username}'s digest of {count} session(s).")
        for username, count in report["sent_earlier"]:
            self.stdout.write(f"Skipped {username}: today's digest ({count} session(s)) was made already.")
        for username, count in report["no_address"]:
            self.stderr.write(f"Could not send {username} a digest of {count} session(s): no e-mail address.")
        self.stdout.write(
            f"Digest for {report['day']}: {len(report['queued'])} queued, {len(report['sent_earlier'])} made "
            f"earlier, {len(report['no_address'])} without an address."
        )
