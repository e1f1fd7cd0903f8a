"""Celery tasks for webhooks: thin doors onto webhooks.services. They take ids, reload, and are idempotent
(one row per delivery, sent under its lock), so acks_late is safe: a task whose worker died runs again,
and the receiver recognises a repeat by its webhook-id."""

import logging

from celery import shared_task
from django.conf import settings

from core.queueing import queue_each
from webhooks.models import WebhookDelivery
from webhooks.services import deliveries_overdue, delivery_attempt, endpoint_disabled_notify

logger = logging.getLogger(__name__)


def deliveries_queue(deliveries: list[WebhookDelivery]) -> int:
    """Enqueue each delivery (core.queueing.queue_each); what the broker refused stays pending for
    webhooks_redeliver_task, like e-mail (families.tasks.notifications_queue)."""
    return queue_each(webhook_deliver_task, deliveries, named=lambda d: f"webhook {d.webhook_id}")


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def webhook_deliver_task(self, delivery_id: int) -> str:
    """Attempt one delivery; on failure, retry after the next of WEBHOOK_RETRY_DELAYS.

    The count of attempts lives in the row. A retry longer than the broker holds a task safely
    (CELERY_VISIBILITY_TIMEOUT) is not handed to Celery: webhooks_redeliver_task queues it when due.
    """
    attempt = delivery_attempt(delivery_id=delivery_id)
    if attempt.endpoint_disabled:
        endpoint_id = WebhookDelivery.objects.filter(pk=delivery_id).values_list("endpoint_id", flat=True).first()
        try:
            endpoint_disabled_notify_task.delay(endpoint_id)
        except Exception:  # the broker refused: the endpoint stays disabled, visible in admin
            logger.exception("could not queue the e-mail that webhook endpoint %s was disabled", endpoint_id)
    if (
        attempt.retry_in is not None
        and not self.request.is_eager
        and attempt.retry_in < settings.CELERY_VISIBILITY_TIMEOUT
    ):
        raise self.retry(countdown=attempt.retry_in)
    return attempt.outcome


@shared_task(acks_late=True)
def webhooks_redeliver_task() -> dict:
    """Queue again the pending deliveries past due (a lost task, a long retry, or without a broker any retry)."""
    overdue = deliveries_overdue()
    for delivery_id in overdue:
        webhook_deliver_task.delay(delivery_id)
    if overdue:
        logger.info("queued %d overdue webhook deliveries again", len(overdue))
    return {"queued": len(overdue)}


@shared_task(bind=True, max_retries=5)
def endpoint_disabled_notify_task(self, endpoint_id: int) -> int:
    """Tell the admins an endpoint was disabled; when the mail server fails, try again later."""
    try:
        return endpoint_disabled_notify(endpoint_id=endpoint_id)
    except Exception as error:
        if self.request.is_eager:
            logger.exception("could not e-mail admins that webhook endpoint %s was disabled", endpoint_id)
            return 0
        delays = settings.NOTIFICATION_RETRY_DELAYS
        raise self.retry(exc=error, countdown=delays[min(self.request.retries, len(delays) - 1)]) from error
