"""Deliveries of one endpoint attempted at once on PostgreSQL (issue 18): no deadlock, none sent twice."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction

from tests.conftest import T0
from webhooks.models import WebhookDelivery
from webhooks.services import delivery_attempt

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def pending(endpoint, n: int) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type="attendance.marked",
        event_id=f"evt_{n}",
        webhook_id=f"msg_{n}",
        payload={"n": n},
        created_at=T0,
        next_attempt_at=T0,
    )


def test_disabling_does_not_wait_for_a_delivery_being_sent_and_it_is_abandoned_next_time(make_endpoint, settings):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 1
    # Failing for as long as disables it: its next failure does.
    failing_since = T0 - timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS)
    endpoint = make_endpoint(url="http://127.0.0.1:9/nobody", consecutive_failures=1, failing_since=failing_since)
    first, second = pending(endpoint, 1), pending(endpoint, 2)
    locked, release = threading.Event(), threading.Event()

    def worker_sending_the_second():
        # Another worker holds the second delivery's row, as while its endpoint answers.
        try:
            with transaction.atomic():
                WebhookDelivery.objects.select_for_update().get(pk=second.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=worker_sending_the_second)
    thread.start()
    assert locked.wait(10)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = '5s'")  # waiting on the lock would fail the test, not hang it
        attempt = delivery_attempt(delivery_id=first.pk, now=T0 + timedelta(seconds=1))
    finally:
        release.set()
        thread.join(10)
    assert attempt.endpoint_disabled
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("abandoned", "pending")  # the one in flight was skipped
    assert delivery_attempt(delivery_id=second.pk, now=T0 + timedelta(seconds=2)).outcome == "abandoned"
    second.refresh_from_db()
    assert (second.status, second.attempts) == ("abandoned", 0)  # never sent to a disabled endpoint


def test_two_workers_never_send_one_delivery_twice(make_endpoint):
    endpoint = make_endpoint(url="http://127.0.0.1:9/nobody")
    delivery = pending(endpoint, 1)
    locked, release = threading.Event(), threading.Event()

    def other_worker():
        try:
            with transaction.atomic():
                WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    assert locked.wait(10)
    try:
        outcome = delivery_attempt(delivery_id=delivery.pk, now=T0 + timedelta(seconds=1)).outcome
    finally:
        release.set()
        thread.join(10)
    assert outcome == "skipped"
    delivery.refresh_from_db()
    assert delivery.attempts == 0
