"""Outbound webhooks: the endpoints integrators register in admin, and every delivery made to them."""

import base64
import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone


class EventType(models.TextChoices):
    """What an endpoint can subscribe to (docs/webhooks.md documents each payload)."""

    ATTENDANCE_MARKED = "attendance.marked", "attendance.marked: a tutor marked (or cancelled), a report withdrawn"
    ATTENDANCE_FINALIZED = "attendance.finalized", "attendance.finalized: the finalising job applied the suggestion"
    ATTENDANCE_OVERRIDDEN = "attendance.overridden", "attendance.overridden: an admin override"
    PRESENCE_JOINED = "presence.joined", "presence.joined: a participant arrived on the whiteboard"
    PRESENCE_LEFT = "presence.left", "presence.left: a participant left the whiteboard (or timed out)"
    ABSENCE_REPORTED = "absence.reported", "absence.reported: a parent reported an absence ahead of time"


def secret_generate() -> str:
    """A signing secret in the Standard Webhooks form: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookEndpoint(models.Model):
    """An integrator's URL that receives signed POSTs for the event types it subscribed to."""

    url = models.URLField(
        max_length=500,
        db_comment="Where deliveries are POSTed (http or https); its host must resolve to public addresses "
        "unless WEBHOOK_ALLOW_PRIVATE_ADDRESSES",
    )
    description = models.CharField(max_length=200, blank=True, default="")
    secret = models.CharField(
        max_length=100,
        default=secret_generate,
        db_comment="Standard Webhooks signing secret (whsec_ + base64); the receiver verifies webhook-signature with it",
    )
    event_types = models.JSONField(
        default=list,
        blank=True,
        db_comment='The event types it receives: a list of EventType values, e.g. ["attendance.marked"]',
    )
    enabled = models.BooleanField(default=True, db_comment="False: nothing is delivered to it (see disabled_reason)")
    disabled_at = models.DateTimeField(null=True, blank=True, db_comment="When it was disabled; null while enabled")
    disabled_reason = models.TextField(
        blank=True, default="", db_comment="Why it was disabled: by an admin, or after a run of failed attempts"
    )
    consecutive_failures = models.PositiveIntegerField(
        default=0,
        db_comment="Failed attempts in a row, across its deliveries; a success (or enabling) resets it. The "
        "endpoint is disabled when it reaches WEBHOOK_DISABLE_AFTER_FAILURES and failing_since is "
        "WEBHOOK_DISABLE_AFTER_SECONDS old",
    )
    failing_since = models.DateTimeField(
        null=True,
        blank=True,
        db_comment="Server time of the first failed attempt of the current run (no success since); null when "
        "the last attempt succeeded, none was made, or it was enabled again",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "webhook_endpoints"
        db_table_comment = "Integrators' webhook endpoints: URL, signing secret, subscribed events, enabled or not"
        verbose_name = "webhook endpoint"
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(url__startswith="https://") | Q(url__startswith="http://"),
                name="%(app_label)s_%(class)s_url_http",
            ),
            models.CheckConstraint(
                condition=Q(secret__startswith="whsec_"), name="%(app_label)s_%(class)s_secret_whsec"
            ),
            # Disabled exactly when a time says since when.
            models.CheckConstraint(
                condition=Q(enabled=True, disabled_at__isnull=True) | Q(enabled=False, disabled_at__isnull=False),
                name="%(app_label)s_%(class)s_disabled_when",
            ),
            # Failing exactly when a time says since when.
            models.CheckConstraint(
                condition=Q(consecutive_failures=0, failing_since__isnull=True)
                | Q(consecutive_failures__gt=0, failing_since__isnull=False),
                name="%(app_label)s_%(class)s_failing_since_when",
            ),
        ]

    def __str__(self):
        return self.description or self.url

    def receives(self, event_type: str) -> bool:
        return self.enabled and event_type in self.event_types


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending (queued, or waiting for a retry)"
    DELIVERED = "delivered", "Delivered (2xx)"
    FAILED = "failed", "Failed (every retry failed)"
    ABANDONED = "abandoned", "Abandoned (the endpoint was disabled)"


class WebhookDelivery(models.Model):
    """One event for one endpoint, from the change that made it until the endpoint answers 2xx (or we give up).

    Made inside the transaction of the change, so a committed change has its deliveries and a rolled-back
    one has none; `webhook_id` is fixed, so every attempt (and a redelivery) is recognisably one message.
    """

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries")
    event_type = models.CharField(max_length=40, choices=EventType.choices)
    event_id = models.CharField(
        max_length=40, db_comment="The event's id (evt_...), the same in every endpoint's delivery of that event"
    )
    webhook_id = models.CharField(
        max_length=40,
        unique=True,
        db_comment="The webhook-id header (msg_...), fixed per delivery: receivers deduplicate on it",
    )
    payload = models.JSONField(db_comment="The JSON body sent: {type, timestamp, data} (docs/webhooks.md)")
    status = models.CharField(
        max_length=10,
        choices=DeliveryStatus.choices,
        default=DeliveryStatus.PENDING,
        db_comment="pending (queued or waiting for a retry), delivered (2xx), failed (retries exhausted), "
        "abandoned (endpoint disabled)",
    )
    attempts = models.PositiveIntegerField(default=0, db_comment="Attempts made (each POST tried, whatever its end)")
    last_response_code = models.PositiveSmallIntegerField(
        null=True, blank=True, db_comment="HTTP status of the last attempt; null when none came (refused, timeout)"
    )
    last_error = models.TextField(blank=True, default="", db_comment="Why the last attempt failed; empty on success")
    attempt_log = models.JSONField(
        default=list,
        blank=True,
        db_comment="Every attempt: [{at, code, error, ms}] (UTC ISO times), for the admin's delivery log",
    )
    created_at = models.DateTimeField(db_comment="When the event happened and the delivery was made")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True, db_comment="When the endpoint answered 2xx")
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, db_comment="Pending: when it is due (now, or the next retry); null otherwise"
    )

    class Meta:
        db_table = "webhook_deliveries"
        db_table_comment = "Every webhook delivery: one event for one endpoint, its attempts and outcome"
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(event_type__in=EventType.values), name="%(app_label)s_%(class)s_event_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values), name="%(app_label)s_%(class)s_status_valid"
            ),
            # Delivered exactly when the endpoint's 2xx is recorded.
            models.CheckConstraint(
                condition=Q(status=DeliveryStatus.DELIVERED, delivered_at__isnull=False)
                | (~Q(status=DeliveryStatus.DELIVERED) & Q(delivered_at__isnull=True)),
                name="%(app_label)s_%(class)s_delivered_when_answered",
            ),
            # Pending exactly when it has a due time.
            models.CheckConstraint(
                condition=Q(status=DeliveryStatus.PENDING, next_attempt_at__isnull=False)
                | (~Q(status=DeliveryStatus.PENDING) & Q(next_attempt_at__isnull=True)),
                name="%(app_label)s_%(class)s_pending_when_due",
            ),
            # One delivery per event and endpoint.
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="%(app_label)s_%(class)s_one_per_event"),
        ]
        indexes = [
            # webhooks_redeliver_task (deliveries_overdue): pending deliveries by when they are due.
            models.Index(
                fields=["next_attempt_at"], condition=Q(status=DeliveryStatus.PENDING), name="webhook_deliveries_due"
            ),
            # endpoint_disable: the endpoint's pending deliveries, abandoned with it.
            models.Index(
                fields=["endpoint"], condition=Q(status=DeliveryStatus.PENDING), name="webhook_deliveries_pending"
            ),
        ]

    def __str__(self):
        return f"{self.event_type} → {self.endpoint} ({self.status})"
