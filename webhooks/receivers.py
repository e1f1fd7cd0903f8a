"""Signal receivers: the webhook deliveries a change calls for, made with the change and sent after it."""

import logging

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from attendance.signals import attendance_recorded
from webhooks.events import change_event_type
from webhooks.models import WebhookEndpoint
from webhooks.services import (
    PRESENCE_EVENTS,
    attendance_change_deliveries,
    is_subscribed,
    presence_deliveries,
    subscriptions_changed,
)
from webhooks.tasks import deliveries_queue
from whiteboard.signals import presence_recorded

logger = logging.getLogger(__name__)


def _wanted(event_type: str) -> bool:
    # Nobody subscribed (the usual case): no savepoint, no statement (the cached subscriptions).
    try:
        return is_subscribed(event_type)
    except Exception:
        logger.exception("webhook subscriptions could not be read")
        return False


@receiver([post_save, post_delete], sender=WebhookEndpoint, dispatch_uid="webhooks.endpoint_saved")
def endpoint_saved(sender, **kwargs):
    subscriptions_changed()


def _make_and_queue(make, what: str) -> None:
    # Inside the change's transaction: the deliveries commit or roll back with it. A savepoint, so a
    # failure here costs the webhook, never the change. Their sending is queued on commit.
    try:
        with transaction.atomic():
            deliveries = make()
    except Exception:
        logger.exception("webhook deliveries for %s could not be made", what)
        return
    if deliveries:
        transaction.on_commit(lambda: deliveries_queue(deliveries))


@receiver(attendance_recorded, dispatch_uid="webhooks.attendance_change")
def deliver_attendance_change(sender, change, **kwargs):
    event_type = change_event_type(change)
    if event_type is None or not _wanted(event_type):
        return
    _make_and_queue(lambda: attendance_change_deliveries(change=change), f"attendance change {change.pk}")


@receiver(presence_recorded, dispatch_uid="webhooks.presence_change")
def deliver_presence_change(sender, whiteboard_id, role, event, reason, at, **kwargs):
    if not _wanted(PRESENCE_EVENTS[event]):
        return
    _make_and_queue(
        lambda: presence_deliveries(whiteboard_id=whiteboard_id, role=role, event=event, reason=reason, at=at),
        f"presence {event} of the {role} on whiteboard {whiteboard_id}",
    )
