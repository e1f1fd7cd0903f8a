"""Webhooks: deliveries made with the change they announce, sent after it commits, retried, and given up on.

The life of a delivery, like an e-mail's in families: `attendance_change_deliveries` and
`presence_deliveries` run inside the transaction of the change (the `attendance_recorded` and
`presence_recorded` signals, webhooks/receivers.py) and make one pending row per subscribed endpoint,
each with its fixed webhook-id; after commit a Celery task per row (webhooks/tasks.py) calls
`delivery_attempt`, which checks the address again (SSRF), signs, POSTs, records the outcome and
says when to retry (WEBHOOK_RETRY_DELAYS, about 24 h in all). An endpoint that has failed without a
single success for WEBHOOK_DISABLE_AFTER_SECONDS (5 days), in at least WEBHOOK_DISABLE_AFTER_FAILURES
attempts, is disabled (`endpoint_disable_due`), its pending deliveries abandoned, and admins are
e-mailed. A row whose task was lost is found by `deliveries_overdue`.
"""

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from attendance.models import AttendanceChange, TutoringSession
from core.errors import DomainError
from webhooks import events
from webhooks.addresses import Target, target_check
from webhooks.models import DeliveryStatus, EventType, WebhookDelivery, WebhookEndpoint
from webhooks.sender import Answer, post

logger = logging.getLogger(__name__)

ATTEMPT_LOG_KEEP = 50  # attempts kept per delivery in its log (a redelivered one can have more)
NOT_DUE_SLACK = timedelta(seconds=1)


# --- endpoints --------------------------------------------------------------------


def endpoint_url_check(*, url: str) -> Target:
    """Where `url` would be sent now; DomainError (invalid_url, unresolvable_host, address_refused) if nowhere."""
    return target_check(url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES)


def endpoint_create(*, url: str, event_types: list[str], description: str = "") -> WebhookEndpoint:
    """A new endpoint with a fresh secret; its URL is checked (SSRF) first."""
    unknown = set(event_types) - set(EventType.values)
    if unknown or not event_types:
        raise DomainError("Choose at least one event type, from the known ones.", "invalid_event_types")
    endpoint_url_check(url=url)
    return WebhookEndpoint.objects.create(url=url, event_types=list(event_types), description=description)


def endpoint_disable(*, endpoint: WebhookEndpoint, reason: str, now: datetime | None = None) -> int:
    """Stop delivering to an endpoint; its pending deliveries are abandoned. How many were."""
    now = now or timezone.now()
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
            enabled=False, disabled_at=now, disabled_reason=reason[:2000]
        )
        subscriptions_changed()
        # Those being sent right now (locked by their worker) are skipped, not waited for: that worker may be
        # waiting for this endpoint's row, which this transaction holds. They find it disabled next time.
        pending = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(endpoint=endpoint, status=DeliveryStatus.PENDING)
            .values_list("pk", flat=True)
        )
        return WebhookDelivery.objects.filter(pk__in=pending).update(
            status=DeliveryStatus.ABANDONED, next_attempt_at=None
        )


def endpoint_enable(*, endpoint: WebhookEndpoint) -> None:
    """Deliver to it again, with a clean failure run (abandoned deliveries can be redelivered from admin)."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        enabled=True, disabled_at=None, disabled_reason="", consecutive_failures=0, failing_since=None
    )
    subscriptions_changed()


def endpoint_disabled_notify(*, endpoint_id: int) -> int:
    """E-mail the admins (active staff with an address) that an endpoint was disabled; how many were told."""
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    staff = get_user_model().objects.filter(is_staff=True, is_active=True).exclude(email="").order_by("pk")
    addresses = [user.email for user in staff]
    if not addresses:
        return 0
    link = settings.SITE_URL + reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk])
    send_mail(
        subject=f"Webhook endpoint disabled: {endpoint}",
        message=(
            f"The webhook endpoint {endpoint.url} was disabled at {events.utc_iso(endpoint.disabled_at)} (UTC).\n\n"
            f"{endpoint.disabled_reason}\n\n"
            "Nothing is sent to it until an admin enables it again; its pending deliveries were abandoned "
            f"and can be redelivered from the delivery log.\n\n{link}\n"
        ),
        from_email=None,
        recipient_list=addresses,
    )
    return len(addresses)


# --- making deliveries (inside the change's transaction) ----------------------------


SUBSCRIPTIONS_KEY = "webhooks:subscriptions"


def subscriptions() -> dict[str, list[int]]:
    """Which enabled endpoints want each event type, from the cache (WEBHOOK_SUBSCRIPTIONS_CACHE seconds).

    Every presence change and every mark asks; cached, a change nobody subscribed to costs no statement
    (the heartbeat's budget of four). Saving, disabling or enabling an endpoint clears it; a node that
    does not share the cache (no CACHE_URL) sees a new endpoint within those seconds.
    """
    try:
        cached = cache.get(SUBSCRIPTIONS_KEY)
    except Exception:  # the cache is down: ask the database
        cached = None
    if cached is None:
        cached = {}
        for pk, event_types in WebhookEndpoint.objects.filter(enabled=True).values_list("pk", "event_types"):
            for event_type in event_types:
                cached.setdefault(event_type, []).append(pk)
        try:
            cache.set(SUBSCRIPTIONS_KEY, cached, settings.WEBHOOK_SUBSCRIPTIONS_CACHE)
        except Exception:
            logger.warning("webhook subscriptions could not be cached", exc_info=True)
    return cached


def subscriptions_changed() -> None:
    """Forget the cached subscriptions, now and again when the change commits (a reader in between
    may have cached the old ones)."""

    def forget():
        try:
            cache.delete(SUBSCRIPTIONS_KEY)
        except Exception:
            logger.warning("cached webhook subscriptions could not be cleared", exc_info=True)

    forget()
    transaction.on_commit(forget)


def is_subscribed(event_type: str) -> bool:
    return bool(subscriptions().get(event_type))


def _subscribed(event_type: str) -> list[WebhookEndpoint]:
    ids = subscriptions().get(event_type)
    if not ids:
        return []
    # Read again: the cache may be a little behind a disable (the subscription list is JSON, filtered here).
    return [e for e in WebhookEndpoint.objects.filter(pk__in=ids, enabled=True) if event_type in e.event_types]


def deliveries_make(
    *, endpoints: list[WebhookEndpoint], event_type: str, payload: dict, event_id: str, at: datetime
) -> list[WebhookDelivery]:
    """One pending delivery of the event per endpoint (call inside the change's transaction); one INSERT."""
    return WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                endpoint=endpoint,
                event_type=event_type,
                event_id=event_id,
                webhook_id=f"msg_{uuid.uuid4().hex}",
                payload=payload,
                created_at=at,
                next_attempt_at=at,
            )
            for endpoint in endpoints
        ]
    )


def attendance_change_deliveries(*, change: AttendanceChange) -> list[WebhookDelivery]:
    """The deliveries an attendance change calls for (attendance.* or absence.reported), made."""
    event_type = events.change_event_type(change)
    endpoints = _subscribed(event_type) if event_type is not None else []
    if not endpoints:
        return []
    session = change.session  # the locked row the change was recorded on: no query
    tutor_id, student_id = session.tutor_id, session.student_id
    event_id = events.event_id_new()
    payload = events.change_payload(
        change, event_type=event_type, event_id=event_id, tutor_id=tutor_id, student_id=student_id
    )
    return deliveries_make(
        endpoints=endpoints, event_type=event_type, payload=payload, event_id=event_id, at=change.changed_at
    )


PRESENCE_EVENTS = {"joined": EventType.PRESENCE_JOINED, "left": EventType.PRESENCE_LEFT}


def presence_deliveries(
    *, whiteboard_id: int, role: str, event: str, reason: str, at: datetime
) -> list[WebhookDelivery]:
    """The deliveries a participant's arrival on or departure from a whiteboard calls for, made."""
    event_type = PRESENCE_EVENTS[event]
    endpoints = _subscribed(event_type)
    if not endpoints:
        return []
    session = TutoringSession.objects.filter(whiteboard_id=whiteboard_id).values("pk", "tutor_id", "student_id").first()
    if session is None:
        return []  # a whiteboard no session uses any more
    event_id = events.event_id_new()
    payload = events.presence_payload(
        event_type=event_type,
        event_id=event_id,
        session_id=session["pk"],
        whiteboard_id=whiteboard_id,
        role=role,
        user_id=session["tutor_id"] if role == "tutor" else session["student_id"],
        reason=reason,
        at=at,
    )
    return deliveries_make(endpoints=endpoints, event_type=event_type, payload=payload, event_id=event_id, at=at)


# --- sending -------------------------------------------------------------------------


def signed_headers(*, secret: str, webhook_id: str, body: str, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt: the id is the delivery's, the timestamp the attempt's."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "tutoring-attendance-webhooks/1",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        # sign() reads the time as UTC without converting it: give it UTC.
        "webhook-signature": Webhook(secret).sign(msg_id=webhook_id, timestamp=at.astimezone(UTC), data=body),
    }


def body_of(delivery: WebhookDelivery) -> str:
    return json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Attempt:
    """What one call did: `delivered`, `retry` (in `retry_in` s), `failed` (no retries left), `abandoned`
    (endpoint disabled), or `skipped` (not pending, not due yet, or another worker has it).
    `endpoint_disabled`: this attempt disabled the endpoint (the caller tells the admins)."""

    outcome: str
    retry_in: int | None = None
    endpoint_disabled: bool = False


def delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> Attempt:
    """Send one pending delivery if it is due; record the answer and what comes next.

    The row stays locked while the endpoint talks (at most WEBHOOK_TIMEOUT): a duplicate task skips it
    instead of sending it twice. The address is checked again here (the DNS answer may have changed
    since the endpoint was saved) and the connection goes to the address checked.
    """
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING)
            .first()
        )
        if delivery is None:
            return Attempt("skipped")
        now = now or timezone.now()
        if delivery.next_attempt_at > now + NOT_DUE_SLACK:
            return Attempt("skipped")  # an early copy of a retry (e.g. redelivered by the broker)
        endpoint = delivery.endpoint
        if not endpoint.receives(delivery.event_type):
            delivery.status, delivery.next_attempt_at = DeliveryStatus.ABANDONED, None
            delivery.save(update_fields=["status", "next_attempt_at"])
            return Attempt("abandoned")
        try:
            target = endpoint_url_check(url=endpoint.url)
        except DomainError as refusal:
            answer = Answer(None, refusal.message, 0)
        else:
            body = body_of(delivery)
            headers = signed_headers(secret=endpoint.secret, webhook_id=delivery.webhook_id, body=body, at=now)
            answer = post(target=target, body=body.encode(), headers=headers, timeout=settings.WEBHOOK_TIMEOUT)
        return _record(delivery, answer, now=now)


def _record(delivery: WebhookDelivery, answer: Answer, *, now: datetime) -> Attempt:
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_response_code = answer.code
    delivery.last_error = answer.error
    entry = {"at": events.utc_iso(now), "code": answer.code, "error": answer.error[:300], "ms": answer.ms}
    delivery.attempt_log = [*delivery.attempt_log, entry][-ATTEMPT_LOG_KEEP:]
    fields = ["attempts", "last_attempt_at", "last_response_code", "last_error", "attempt_log", "status"]
    fields += ["next_attempt_at", "delivered_at"]
    if answer.ok:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.DELIVERED, now, None
        delivery.save(update_fields=fields)
        WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, consecutive_failures__gt=0).update(
            consecutive_failures=0, failing_since=None
        )
        return Attempt("delivered")

    delays = settings.WEBHOOK_RETRY_DELAYS
    if delivery.attempts <= len(delays):
        retry_in = delays[delivery.attempts - 1]
        delivery.next_attempt_at = now + timedelta(seconds=retry_in)
        attempt = Attempt("retry", retry_in)
    else:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        attempt = Attempt("failed")
    delivery.save(update_fields=fields)
    logger.warning(
        "webhook %s (%s) to %s failed (attempt %d): %s; %s",
        delivery.webhook_id,
        delivery.event_type,
        delivery.endpoint.url,
        delivery.attempts,
        answer.error,
        f"retrying in {attempt.retry_in} s" if attempt.retry_in is not None else "giving up",
    )
    if _count_failure(delivery.endpoint, error=answer.error, now=now):
        return Attempt("abandoned" if attempt.outcome == "retry" else attempt.outcome, endpoint_disabled=True)
    return attempt


def endpoint_disable_due(*, failures: int, failing_since: datetime | None, now: datetime) -> bool:
    """Whether an endpoint failing `failures` attempts in a row since `failing_since` is to be disabled.

    Both: no success for WEBHOOK_DISABLE_AFTER_SECONDS (at least the retry span, config/settings.py says
    why), so a busy endpoint down for ten minutes is not disabled for its many failures, every one of
    which its retries would deliver; and WEBHOOK_DISABLE_AFTER_FAILURES attempts (0: never), so a quiet
    one is not disabled on two failures a week apart.
    """
    limit = settings.WEBHOOK_DISABLE_AFTER_FAILURES
    if not limit or failures < limit or failing_since is None:
        return False
    return now - failing_since >= timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS)


def _span(duration: timedelta) -> str:
    hours, minutes = divmod(int(duration.total_seconds()) // 60, 60)
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h {minutes} min" if days else f"{hours} h {minutes} min"


def _count_failure(endpoint: WebhookEndpoint, *, error: str, now: datetime) -> bool:
    """One more failed attempt in a row for the endpoint (the run starts now if it had none); True when
    that disabled it."""
    # Locked: two deliveries failing at once must not both read the run below the limit.
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    locked.consecutive_failures += 1
    if locked.failing_since is None or now < locked.failing_since:  # an attempt that started earlier
        locked.failing_since = now
    locked.save(update_fields=["consecutive_failures", "failing_since"])
    if not locked.enabled or not endpoint_disable_due(
        failures=locked.consecutive_failures, failing_since=locked.failing_since, now=now
    ):
        return False
    reason = (
        f"Disabled after {locked.consecutive_failures} failed attempts in a row over "
        f"{_span(now - locked.failing_since)} without a success (failing since "
        f"{events.utc_iso(locked.failing_since)}); the last: {error}"
    )
    endpoint_disable(endpoint=locked, reason=reason, now=now)
    logger.error("webhook endpoint %s (%s) disabled: %s", locked.pk, locked.url, reason)
    return True


def delivery_redeliver(*, delivery: WebhookDelivery, now: datetime | None = None) -> bool:
    """Queue a delivery again (any status), with fresh retries and the same webhook-id; False if its
    endpoint is disabled. The caller enqueues it."""
    now = now or timezone.now()
    if not WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, enabled=True).exists():
        return False
    return bool(
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now, delivered_at=None
        )
    )


def deliveries_overdue(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Pending deliveries long past due: their task was lost, or (without a broker, or for a retry longer than
    the broker holds one) a retry is due."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.WEBHOOK_REDELIVER_AFTER)
    return list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=cutoff)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
