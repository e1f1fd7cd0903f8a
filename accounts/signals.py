import logging

from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.utils import timezone

security_log = logging.getLogger("security")


@receiver(user_login_failed)
def log_failed_sign_in(sender, credentials, request=None, **kwargs):
    security_log.warning(
        "sign-in failed username=%r ip=%s at=%s",
        credentials.get("username"),
        request.META.get("REMOTE_ADDR") if request else None,
        timezone.now().isoformat(),
    )
