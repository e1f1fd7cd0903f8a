"""Signal receivers: the webhook deliveries a change calls for, made with the change and sent after it."""

import logging

from django.db import transaction
from django.dispatch import receiver

from attendance.signals import attendance_recorded
from webhooks.services import attendance_change_deliveries, presence_deliveries
from webhooks.tasks import deliveries_queue
from whiteboard.signals import presence_recorded

logger = logging.getLogger(__name__)


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
    _make_and_queue(lambda: attendance_change_deliveries(change=change), f"attendance change {change.pk}")


@receiver(presence_recorded, dispatch_uid="webhooks.presence_change")
def deliver_presence_change(sender, whiteboard_id, role, event, reason, at, **kwargs):
    _make_and_queue(
        lambda: presence_deliveries(whiteboard_id=whiteboard_id, role=role, event=event, reason=reason, at=at),
        f"presence {event} of the {role} on whiteboard {whiteboard_id}",
    )
