"""Signal receivers: the e-mails an attendance change calls for, made with the change and sent after it."""

import logging

from django.db import transaction
from django.dispatch import receiver

from attendance.signals import attendance_recorded, streak_opened
from families.services import attendance_change_notify, streak_notify
from families.tasks import notifications_queue

logger = logging.getLogger(__name__)


@receiver(attendance_recorded, dispatch_uid="families.notify_attendance_change")
def notify_attendance_change(sender, change, **kwargs):
    # Inside the mark's transaction: the notification rows (pending, Message-ID fixed) commit with the
    # change or roll back with it, so a committed change has its rows whatever the broker does. Only
    # their delivery is queued, on commit; if Redis is down then, notifications_redeliver_task sends
    # them once they are overdue. Without a broker the delivery runs here, after commit.
    try:
        with transaction.atomic():  # a savepoint: a failure here costs the e-mail, never the mark
            notifications = attendance_change_notify(change=change)
    except Exception:
        logger.exception("notifications for attendance change %s could not be made", change.pk)
        return
    if notifications:
        transaction.on_commit(lambda: notifications_queue(notifications))


@receiver(streak_opened, dispatch_uid="families.notify_streak_opened")
def notify_streak_opened(sender, streak, **kwargs):
    # Sent after the streak's change committed: the notices are made (pending, one key per streak and
    # recipient) and their delivery queued like every other e-mail.
    try:
        notifications = streak_notify(streak=streak)
    except Exception:
        logger.exception("notices for attendance streak %s could not be made", streak.pk)
        return
    if notifications:
        transaction.on_commit(lambda: notifications_queue(notifications))
