"""The database keeps the webhooks' rules too (issue 18)."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction

from tests.conftest import T0
from webhooks.models import WebhookDelivery, WebhookEndpoint, secret_generate

pytestmark = pytest.mark.django_db


def refused(make):
    with pytest.raises(IntegrityError), transaction.atomic():
        make()


def test_secrets_are_standard_webhooks_secrets_and_differ():
    first, second = secret_generate(), secret_generate()
    assert first.startswith("whsec_") and first != second
    from standardwebhooks.webhooks import Webhook

    Webhook(first)  # the library takes it


@pytest.mark.parametrize(
    "fields",
    [
        {"url": "ftp://hooks.example.com/"},
        {"secret": "plain-secret"},
        {"enabled": False},  # disabled, but since when?
        {"disabled_at": T0},  # enabled and disabled
        {"consecutive_failures": 3},  # failing, but since when?
        {"failing_since": T0},  # failing since, but no failure
    ],
)
def test_the_database_refuses_a_bad_endpoint(fields):
    refused(lambda: WebhookEndpoint.objects.create(**{"url": "https://hooks.example.com/", **fields}))


def delivery(**fields):
    endpoint = WebhookEndpoint.objects.first() or WebhookEndpoint.objects.create(url="https://hooks.example.com/")
    values = {
        "endpoint": endpoint,
        "event_type": "attendance.marked",
        "event_id": "evt_1",
        "webhook_id": "msg_1",
        "payload": {},
        "created_at": T0,
        "next_attempt_at": T0,
        **fields,
    }
    return WebhookDelivery.objects.create(**values)


@pytest.mark.parametrize(
    "fields",
    [
        {"event_type": "attendance.deleted"},
        {"status": "lost"},
        {"status": "delivered", "next_attempt_at": None},  # delivered, but when?
        {"status": "pending", "next_attempt_at": None},  # pending, but due when?
        {"status": "failed", "next_attempt_at": None, "delivered_at": T0},
    ],
)
def test_the_database_refuses_a_bad_delivery(fields):
    refused(lambda: delivery(**fields))


def test_one_delivery_per_event_and_endpoint_and_unique_webhook_ids():
    delivery()
    refused(lambda: delivery(webhook_id="msg_2"))  # same event, same endpoint
    refused(lambda: delivery(event_id="evt_2"))  # same webhook-id
    delivery(event_id="evt_2", webhook_id="msg_2", created_at=T0 + timedelta(seconds=1))


def test_endpoint_create_checks_the_url_and_the_event_types(settings):
    from core.errors import DomainError
    from webhooks.services import endpoint_create

    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    with pytest.raises(DomainError) as refused:
        endpoint_create(url="http://127.0.0.1/hook", event_types=["attendance.marked"])
    assert refused.value.code == "address_refused"
    with pytest.raises(DomainError) as refused:
        endpoint_create(url="http://127.0.0.1/hook", event_types=["attendance.deleted"])
    assert refused.value.code == "invalid_event_types"
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    endpoint = endpoint_create(url="http://127.0.0.1/hook", event_types=["presence.left"], description="Sync")
    assert (endpoint.event_types, endpoint.enabled, str(endpoint)) == (["presence.left"], True, "Sync")
    assert not WebhookDelivery.objects.exists()
