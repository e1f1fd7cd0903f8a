"""Signal receivers: e-mail people about attendance changes once they are committed."""

import logging

from django.dispatch import receiver

from attendance.signals import attendance_changed
from families.tasks import attendance_change_notify_task

logger = logging.getLogger(__name__)


@receiver(attendance_changed, dispatch_uid="families.notify_attendance_change")
def notify_attendance_change(sender, change, **kwargs):
    # Sent on commit, so a rolled-back change enqueues nothing. With a broker this only enqueues (the
    # request does not wait for the mail server); without one the task runs here and now.
    # The change is committed already: a failure here (a bug, the broker down) must not turn it into an
    # error page, nor stop the other on-commit callbacks.
    try:
        attendance_change_notify_task.delay(change.pk)
    except Exception:
        logger.exception("notifications for attendance change %s could not be queued", change.pk)
