import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_login_failed
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.utils import timezone

from accounts.services import tokens_revoke_for_user
from accounts.signin import client_ip, signin_failure_record

security_log = logging.getLogger("security")


@receiver(user_login_failed)
def log_failed_sign_in(sender, credentials, request=None, **kwargs):
    throttled = request is not None and getattr(request, "signin_throttled_wait", None) is not None
    security_log.warning(
        "sign-in %s username=%r ip=%s at=%s",
        "throttled" if throttled else "failed",
        credentials.get("username"),
        request.META.get("REMOTE_ADDR") if request else None,
        timezone.now().isoformat(),
    )
    if request is not None and not throttled:
        signin_failure_record(username=credentials.get("username"), ip=client_ip(request))


@receiver(pre_save, sender=settings.AUTH_USER_MODEL)
def revoke_tokens_when_the_password_changes(sender, instance, raw=False, update_fields=None, **kwargs):
    """Every door that changes a password (change and reset pages, admin, changepassword, set_password in
    code) saves the user: compare with the stored hash, so none can forget to revoke."""
    if raw or instance.pk is None or (update_fields is not None and "password" not in update_fields):
        return
    stored = get_user_model().objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    if stored is not None and stored != instance.password:
        tokens_revoke_for_user(user_id=instance.pk)
