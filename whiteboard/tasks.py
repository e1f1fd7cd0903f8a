"""Scheduled presence work as a Celery task (beat: settings.CELERY_BEAT_SCHEDULE)."""

import logging

from celery import shared_task

from whiteboard.services import presence_sweep

logger = logging.getLogger(__name__)


# Safe to run twice at once (each whiteboard is swept under its row lock), so acks_late.
@shared_task(acks_late=True)
def presence_sweep_task() -> dict:
    """Close the connections of browsers that vanished without a disconnect."""
    closed = presence_sweep()
    if closed:
        logger.info("presence sweep closed %d stale connection(s)", closed)
    return {"closed": closed}
