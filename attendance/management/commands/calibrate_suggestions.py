from django.core.management.base import BaseCommand

from attendance.calibration import calibration_fit


class Command(BaseCommand):
    help = (
        "Fit the suggestion's calibration per participant role on the decisions so far (statuses a "
        "person chose), and store it; the finalising job and the reports read the latest fit. For cron, "
        "once a day (or wrap attendance.calibration.calibration_run in a scheduled task)."
    )

    def handle(self, *args, **options):
        report = calibration_fit()
        for fit in report.fits:
            if fit.fitted:
                self.stdout.write(
                    f"{fit.role}: fitted on {fit.sample_size} decisions; Brier score "
                    f"{fit.brier_before:.4f} (rule confidence) -> {fit.brier_after:.4f} (calibrated)"
                )
            elif fit.sample_size < report.minimum:
                self.stdout.write(
                    f"{fit.role}: {fit.sample_size} of the {report.minimum} decisions needed; "
                    "the rule confidence stands"
                )
            else:
                self.stdout.write(
                    f"{fit.role}: {fit.sample_size} decisions, all with the same outcome; nothing to fit, "
                    "the rule confidence stands"
                )
