"""Celery tasks for e-mail: thin doors onto families.services. They take ids, reload, and are idempotent
(a key per notification), so acks_late is safe: a task whose worker died runs again and sends nothing twice."""

import logging

from celery import shared_task

from core.queueing import queue_each
from families.models import SentNotification
from families.services import (
    decision_digest_send,
    notification_deliver,
    notifications_overdue,
)

logger = logging.getLogger(__name__)


def notifications_queue(notifications: list[SentNotification]) -> int:
    """Enqueue the delivery of each notification (core.queueing.queue_each); the overdue sweep,
    notifications_redeliver_task, queues what the broker refused once NOTIFICATION_REDELIVER_AFTER overdue."""
    return queue_each(notification_deliver_task, notifications, named=lambda n: f"e-mail {n.key}")


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def notification_deliver_task(self, notification_id: int) -> str:
    """Send one notification; when the mail server fails, retry after the next of NOTIFICATION_RETRY_DELAYS.

    The count of attempts lives in the row, not in Celery, so "send again" in admin starts afresh and a
    retry whose message was lost is found by notifications_redeliver_task.
    """
    delivery = notification_deliver(notification_id=notification_id)
    if delivery.retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=delivery.retry_in)
    # Without a broker there is nothing to hold a retry: notifications_redeliver_task picks it up when due.
    return delivery.outcome


@shared_task(acks_late=True)
def notifications_redeliver_task() -> dict:
    """Queue again the pending notifications long past due (a lost task, or without a broker a due retry)."""
    overdue = notifications_overdue()
    for notification_id in overdue:
        notification_deliver_task.delay(notification_id)
    if overdue:
        logger.info("queued %d overdue notification(s) again", len(overdue))
    return {"queued": len(overdue)}


@shared_task(acks_late=True)
def decision_digest_task() -> dict:
    """The tutors' daily digest: made once per tutor and day, then queued for delivery."""
    report = decision_digest_send()
    notifications_queue([notification for _, _, notification in report.queued])
    summary = {
        "day": report.day.isoformat(),
        "queued": [(tutor.get_username(), count) for tutor, count, _ in report.queued],
        "sent_earlier": [(tutor.get_username(), count) for tutor, count in report.already_sent],
        "no_address": [(tutor.get_username(), count) for tutor, count in report.not_sent],
    }
    logger.info(
        "decision digest for %s: %d queued, %d sent earlier, %d without an address",
        summary["day"],
        len(report.queued),
        len(report.already_sent),
        len(report.not_sent),
    )
    return summary
