"""Scheduled attendance work as a Celery task (beat: settings.CELERY_BEAT_SCHEDULE)."""

import logging

from celery import shared_task

from attendance.calibration import calibration_run
from attendance.retention import presence_detail_purge
from attendance.services import attendance_finalize

logger = logging.getLogger(__name__)


# Safe to run twice at once (each session is decided under its row lock; others skip it), so acks_late.
@shared_task(acks_late=True)
def attendance_finalize_task() -> dict:
    """Settle ended sessions nobody marked: apply sure suggestions, leave the rest for the tutor."""
    report = attendance_finalize()
    if report.applied or report.left_for_tutor or report.skipped:
        logger.info(
            "finaliser: applied %d, left %d for the tutor, %d taken by another run",
            report.applied,
            report.left_for_tutor,
            report.skipped,
        )
    for session_id, why in report.presence_unknown.items():
        logger.info("finaliser: left session %d for the tutor, presence unknown: %s", session_id, why)
    return {
        "applied": report.applied,
        "left_for_tutor": report.left_for_tutor,
        "skipped": report.skipped,
        # Sessions not applied because the server heard nothing from anyone during them, and why.
        "presence_unknown": [{"session": pk, "why": why} for pk, why in report.presence_unknown.items()],
    }


# A refit reads the decisions and stores one new row per role: running it twice stores two equal fits.
@shared_task(acks_late=True)
def calibration_task() -> dict:
    """Refit the suggestion's calibration from the decisions so far (the fitting library loads only here)."""
    return calibration_run()


# Safe to run twice at once (whiteboards locked with SKIP LOCKED; a done one no longer matches), so acks_late.
# At most PURGE_MAX_BATCHES batches a run: a first run over years of detail finishes over a few nights.
PURGE_MAX_BATCHES = 50


@shared_task(acks_late=True)
def presence_detail_purge_task() -> dict:
    """Remove raw presence detail past PRESENCE_RETENTION_DAYS, keeping the totals and the history."""
    report = presence_detail_purge(max_batches=PURGE_MAX_BATCHES)
    if report.whiteboards:
        logger.info("retention purge: raw presence detail removed from %d whiteboard(s)", report.whiteboards)
    return report.as_dict()
