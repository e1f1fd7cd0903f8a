"""Admin (issue 18): endpoints checked against the SSRF guard when saved; the delivery log; Redeliver."""

import socket
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from tests.conftest import T0
from tests.webhook_receiver import Receiver
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

ADD = reverse("admin:webhooks_webhookendpoint_add")
DELIVERIES = reverse("admin:webhooks_webhookdelivery_changelist")


@pytest.fixture
def admin_client(staff):
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def public_dns(monkeypatch):
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host == "hooks.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def add(client, url, events=("attendance.marked", "presence.left")):
    return client.post(ADD, {"url": url, "description": "Billing sync", "event_types": list(events)})


def test_admin_adds_an_endpoint_with_a_fresh_secret(admin_client, settings, public_dns):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    response = add(admin_client, "https://hooks.example.com/attendance")
    assert response.status_code == 302, response.content.decode()
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.event_types == ["attendance.marked", "presence.left"]
    assert endpoint.secret.startswith("whsec_") and len(endpoint.secret) > 40
    assert endpoint.enabled


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/hook", "http://localhost/hook", "http://[::1]/hook", "http://169.254.169.254/"]
)
def test_admin_refuses_an_endpoint_on_an_inside_address(admin_client, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    response = add(admin_client, url)
    assert response.status_code == 200
    assert "webhooks go to public addresses only" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_the_setting_allows_inside_addresses(admin_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    assert add(admin_client, "http://127.0.0.1:8000/hook").status_code == 302


def test_admin_needs_at_least_one_event_type(admin_client):
    response = add(admin_client, "http://127.0.0.1:8000/hook", events=())
    assert response.status_code == 200
    assert not WebhookEndpoint.objects.exists()


def failed_delivery(endpoint, **fields) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type="attendance.marked",
        event_id="evt_1",
        webhook_id="msg_1",
        payload={"type": "attendance.marked", "timestamp": "2026-03-10T15:00:00Z", "data": {"session_id": 1}},
        status="failed",
        attempts=4,
        last_response_code=500,
        last_error="HTTP 500: boom",
        attempt_log=[{"at": "2026-03-10T15:00:00Z", "code": 500, "error": "HTTP 500: boom", "ms": 12}],
        created_at=T0,
        last_attempt_at=T0 + timedelta(minutes=1),
        **fields,
    )


def test_the_delivery_log_shows_status_response_time_and_attempts(admin_client, make_endpoint):
    delivery = failed_delivery(make_endpoint())
    page = admin_client.get(DELIVERIES).content.decode()
    assert "attendance.marked" in page and "Failed" in page and "500" in page
    detail = admin_client.get(reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk])).content.decode()
    assert "HTTP 500: boom" in detail and "12 ms" in detail and "&quot;session_id&quot;: 1" in detail


def test_redeliver_sends_a_failed_delivery_again_with_the_same_webhook_id(
    admin_client, make_endpoint, django_capture_on_commit_callbacks
):
    secret = WebhookEndpoint._meta.get_field("secret").default()
    with Receiver(secret) as receiver:
        delivery = failed_delivery(make_endpoint(url=receiver.url, secret=secret))
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(DELIVERIES, {"action": "redeliver", "_selected_action": [delivery.pk]})
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == ("delivered", 1, 204)
    assert len(delivery.attempt_log) == 2  # the log keeps the earlier attempt
    [arrived] = receiver.verified
    assert arrived["headers"]["webhook-id"] == "msg_1"


def test_redeliver_refuses_for_a_disabled_endpoint(admin_client, make_endpoint, django_capture_on_commit_callbacks):
    delivery = failed_delivery(make_endpoint(enabled=False, disabled_at=T0))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(DELIVERIES, {"action": "redeliver", "_selected_action": [delivery.pk]})
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages == ["1 deliveries were not queued: their endpoint is disabled."]
    delivery.refresh_from_db()
    assert delivery.status == "failed"


def test_enable_again_resets_the_failure_run(admin_client, make_endpoint):
    endpoint = make_endpoint(
        enabled=False,
        disabled_at=T0,
        disabled_reason="Disabled after 20 …",
        consecutive_failures=20,
        failing_since=T0 - timedelta(days=5),
    )
    changelist = reverse("admin:webhooks_webhookendpoint_changelist")
    assert "Failing since" in admin_client.get(changelist).content.decode()
    change = admin_client.get(reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk])).content.decode()
    assert "Failing since:" in change and "5 Mar 2026" in change
    admin_client.post(changelist, {"action": "enable", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.disabled_at, endpoint.disabled_reason) == (True, None, "")
    assert (endpoint.consecutive_failures, endpoint.failing_since) == (0, None)


def test_disable_abandons_pending_deliveries(admin_client, make_endpoint):
    endpoint = make_endpoint()
    delivery = failed_delivery(endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="pending", next_attempt_at=T0)
    admin_client.post(
        reverse("admin:webhooks_webhookendpoint_changelist"), {"action": "disable", "_selected_action": [endpoint.pk]}
    )
    endpoint.refresh_from_db()
    delivery.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_reason == "Disabled by ada_admin in admin."
    assert (delivery.status, delivery.next_attempt_at) == ("abandoned", None)


def test_the_log_is_read_only_and_staff_only(admin_client, client, make_endpoint):
    delivery = failed_delivery(make_endpoint())
    change = reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk])
    assert 'name="_save"' not in admin_client.get(change).content.decode()
    assert admin_client.post(change, {}).status_code == 403
    assert client.get(DELIVERIES).status_code == 302  # to the login page


def test_an_endpoint_cannot_be_deleted_only_disabled(admin_client, make_endpoint):
    endpoint = make_endpoint()
    response = admin_client.post(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
