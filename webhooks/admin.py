"""Django admin: endpoints (URL, events, secret; enable, disable, new secret) and the delivery log (redeliver)."""

import json

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.utils.html import format_html, format_html_join

from core.admin import ReadOnlyAdminMixin
from core.errors import DomainError
from webhooks.models import EventType, WebhookDelivery, WebhookEndpoint, secret_generate
from webhooks.services import delivery_redeliver, endpoint_disable, endpoint_enable, endpoint_url_check
from webhooks.tasks import deliveries_queue


class EndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https", label="URL")
    event_types = forms.MultipleChoiceField(choices=EventType.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "event_types"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            endpoint_url_check(url=url)  # the SSRF guard, as at every send
        except DomainError as refusal:
            raise forms.ValidationError(refusal.message, code=refusal.code) from refusal
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """An integrator's endpoint: where, which events, the secret they verify with, and whether it is on."""

    form = EndpointForm
    list_display = ["__str__", "url", "events", "enabled", "consecutive_failures", "failing_since", "disabled_at"]
    list_filter = ["enabled"]
    search_fields = ["url", "description"]
    readonly_fields = [
        "secret",
        "enabled",
        "disabled_at",
        "disabled_reason",
        "consecutive_failures",
        "failing_since",
        "created_at",
    ]
    actions = ["disable", "enable", "new_secret"]

    def has_delete_permission(self, request, obj=None):
        # Disable instead: deleting would take the delivery log with it, and a mark committing while its
        # endpoint row went would fail on the delivery's foreign key (PROTECT refuses that delete anyway).
        return False

    @admin.display(description="Events")
    def events(self, obj):
        return ", ".join(obj.event_types) or "—"

    @admin.action(description="Disable (pending deliveries are abandoned)", permissions=["change"])
    def disable(self, request, queryset):
        for endpoint in queryset.filter(enabled=True):
            endpoint_disable(endpoint=endpoint, reason=f"Disabled by {request.user.get_username()} in admin.")
        self.message_user(request, "Disabled.", messages.SUCCESS)

    @admin.action(description="Enable again (failure run reset)", permissions=["change"])
    def enable(self, request, queryset):
        for endpoint in queryset:
            endpoint_enable(endpoint=endpoint)
        self.message_user(request, "Enabled.", messages.SUCCESS)

    @admin.action(description="Give a new signing secret (the receiver must change too)", permissions=["change"])
    def new_secret(self, request, queryset):
        for endpoint in queryset:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret=secret_generate())
        self.message_user(request, "New secrets made: copy each to its receiver.", messages.WARNING)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The delivery log: every event sent to every endpoint, its attempts and outcome; read-only, with "redeliver"."""

    list_display = [
        "created_at",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_response_code",
        "last_attempt_at",
        "delivered_at",
        "last_error_short",
    ]
    list_filter = ["status", "event_type", "endpoint", "created_at"]
    search_fields = ["webhook_id", "event_id", "endpoint__url"]
    list_select_related = ["endpoint"]
    actions = ["redeliver"]
    exclude = ["payload", "attempt_log"]
    readonly_fields = ["payload_pretty", "attempts_table"]

    @admin.display(description="Last error")
    def last_error_short(self, obj):
        return obj.last_error[:80] or "—"

    @admin.display(description="Payload")
    def payload_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2))

    @admin.display(description="Attempts (UTC)")
    def attempts_table(self, obj):
        if not obj.attempt_log:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} ms</td><td>{}</td></tr>",
            (
                (n, a["at"], a["code"] if a["code"] is not None else "—", a["ms"], a["error"] or "ok")
                for n, a in enumerate(obj.attempt_log, start=1)
            ),
        )
        return format_html(
            "<table><tr><th>#</th><th>at</th><th>response</th><th>took</th><th>error</th></tr>{}</table>", rows
        )

    def has_redeliver_permission(self, request):
        return request.user.has_perm("webhooks.change_webhookendpoint")

    @admin.action(description="Redeliver (same webhook-id, fresh retries)", permissions=["redeliver"])
    def redeliver(self, request, queryset):
        queued = [d for d in queryset.select_related("endpoint") if delivery_redeliver(delivery=d)]
        transaction.on_commit(lambda: deliveries_queue(queued))
        if queued:
            self.message_user(request, f"Queued {len(queued)} deliveries again.", messages.SUCCESS)
        if skipped := len(queryset) - len(queued):
            self.message_user(
                request, f"{skipped} deliveries were not queued: their endpoint is disabled.", messages.WARNING
            )
