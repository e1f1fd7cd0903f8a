"""Signal receivers: e-mail people about attendance changes once they are committed."""

import logging

from django.dispatch import receiver

from attendance.signals import attendance_changed, streak_opened
from families.services import attendance_change_notify, streak_notify

logger = logging.getLogger(__name__)


@receiver(attendance_changed, dispatch_uid="families.notify_attendance_change")
def notify_attendance_change(sender, change, **kwargs):
    # The change is committed already: a failure here must not turn it into an error page,
    # nor stop the other on-commit callbacks.
    try:
        attendance_change_notify(change=change)
    except Exception:
        logger.exception("notifications for attendance change %s failed", change.pk)


@receiver(streak_opened, dispatch_uid="families.notify_streak_opened")
def notify_streak_opened(sender, streak, **kwargs):
    # One function sends the notice (families.services.streak_notify), so moving it to a
    # background task means re-pointing this one call.
    try:
        streak_notify(streak=streak)
    except Exception:
        logger.exception("notices for attendance streak %s failed", streak.pk)
