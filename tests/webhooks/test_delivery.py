"""Sending (issue 18) against a real HTTP receiver on 127.0.0.1 that verifies each signature with
`standardwebhooks`, as an integrator would: signed, retried on the schedule, once, never redirected,
never to an inside address, and the endpoint disabled (admins told) after a run of failures."""

import socket
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction

from attendance.services import attendance_mark_by_hand
from tests.webhook_receiver import Receiver, free_port
from tests.webhooks.conftest import END
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import delivery_attempt
from webhooks.tasks import webhook_deliver_task, webhooks_redeliver_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    # The secret is the endpoint's; the receiver is made first, the endpoint points at it.
    endpoint_secret = WebhookEndpoint._meta.get_field("secret").default()
    r = Receiver(endpoint_secret)
    yield r
    r.stop()


@pytest.fixture
def endpoint(receiver, make_endpoint):
    return make_endpoint(url=receiver.url, secret=receiver.secret)


@pytest.fixture
def mark(session, tutor, clock, django_capture_on_commit_callbacks):
    """The tutor marks Sam absent at the end of the session; the delivery's task runs on commit (eagerly)."""
    clock.at(END)

    def do(status="absent"):
        with django_capture_on_commit_callbacks(execute=True):
            attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status=status)
        return WebhookDelivery.objects.order_by("-id").first()

    return do


def test_a_delivery_arrives_signed_and_the_receiver_verifies_it(receiver, endpoint, mark):
    receiver.start()
    delivery = mark()

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == ("delivered", 1, 204)
    assert delivery.delivered_at == END
    [arrived] = receiver.received
    assert arrived["verified"], arrived["error"]
    headers = {k.lower(): v for k, v in arrived["headers"].items()}
    assert headers["webhook-id"] == delivery.webhook_id
    assert headers["webhook-timestamp"] == str(int(END.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["content-type"] == "application/json"
    assert arrived["payload"] == delivery.payload
    assert delivery.attempt_log == [
        {"at": "2026-03-10T15:00:00Z", "code": 204, "error": "", "ms": delivery.attempt_log[0]["ms"]}
    ]


def test_a_receiver_with_another_secret_refuses_it(receiver, make_endpoint, mark):
    make_endpoint(url=receiver.url)  # a secret of its own: the receiver's does not match
    receiver.start()
    delivery = mark()
    delivery.refresh_from_db()
    assert not receiver.received[0]["verified"]
    assert (delivery.status, delivery.last_response_code) == ("pending", 400)


def test_receiver_down_then_up_is_retried_and_delivered_exactly_once(receiver, endpoint, mark, clock):
    delivery = mark()  # nobody listening yet
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == ("pending", 1, None)
    assert "refused" in delivery.last_error.lower()
    assert delivery.next_attempt_at == END + timedelta(seconds=10)

    assert webhooks_redeliver_task() == {"queued": 0}  # not due yet
    clock.advance(10)
    assert webhooks_redeliver_task() == {"queued": 1}  # still down: the second attempt fails
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.next_attempt_at) == (2, clock.now + timedelta(seconds=20))

    receiver.start()
    clock.advance(20)
    assert webhooks_redeliver_task() == {"queued": 1}
    clock.advance(3600)
    assert webhooks_redeliver_task() == {"queued": 0}
    assert webhook_deliver_task(delivery.pk) == "skipped"  # a duplicate task sends nothing

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert [r["headers"]["webhook-id"] for r in receiver.verified] == [delivery.webhook_id]  # once
    endpoint.refresh_from_db()
    assert (endpoint.consecutive_failures, endpoint.failing_since) == (0, None)  # the success ended the run


def test_a_redirect_is_not_followed(receiver, endpoint, mark):
    receiver.answers["/hooks"] = (302, {"Location": "/elsewhere"})
    receiver.start()
    delivery = mark()
    delivery.refresh_from_db()
    assert [r["path"] for r in receiver.received] == ["/hooks"]  # never /elsewhere
    assert (delivery.status, delivery.last_response_code) == ("pending", 302)
    assert delivery.last_error == "HTTP 302: redirect to /elsewhere not followed"


def test_a_slow_endpoint_times_out(receiver, endpoint, mark, settings):
    settings.WEBHOOK_TIMEOUT = 0.3
    receiver.delay = 1.5  # real time, in the receiver's thread: longer than the timeout
    receiver.start()
    delivery = mark()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_response_code) == ("pending", None)
    assert "timed out" in delivery.last_error.lower()
    assert delivery.attempt_log[0]["ms"] < 1400


def test_retries_follow_the_schedule_then_the_delivery_fails(receiver, endpoint, mark, clock):
    receiver.answers["/hooks"] = (500, {})
    receiver.start()
    delivery = mark()
    outcomes = []
    for wait in (5, 5, 20, 40):  # too early, then each retry when due
        clock.advance(wait)
        outcomes.append(delivery_attempt(delivery_id=delivery.pk).outcome)
    delivery.refresh_from_db()
    assert outcomes == ["skipped", "retry", "retry", "failed"]
    assert [a["at"][11:19] for a in delivery.attempt_log] == ["15:00:00", "15:00:10", "15:00:30", "15:01:10"]
    assert [a["code"] for a in delivery.attempt_log] == [500] * 4
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 4, None)
    assert len(receiver.received) == 4


def test_the_default_schedule_retries_for_about_a_day():
    from config.settings import WEBHOOK_RETRY_DELAYS

    total = sum(WEBHOOK_RETRY_DELAYS)
    assert timedelta(hours=20) < timedelta(seconds=total) <= timedelta(hours=24)
    assert sorted(WEBHOOK_RETRY_DELAYS) == WEBHOOK_RETRY_DELAYS  # backing off, never hurrying


def test_an_endpoint_is_disabled_after_a_run_of_failures_and_admins_are_emailed(
    make_endpoint, mark, clock, staff, settings
):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3  # and WEBHOOK_DISABLE_AFTER_SECONDS = 600 (conftest)
    endpoint = make_endpoint(url=f"http://127.0.0.1:{free_port()}/hooks")  # nobody listens there
    first = mark("absent")
    second = mark("late")
    clock.advance(10)
    assert delivery_attempt(delivery_id=first.pk).outcome == "retry"  # three failures, but for 10 s only
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.consecutive_failures, endpoint.failing_since) == (True, 3, END)
    assert mail.outbox == []

    clock.at(END + timedelta(seconds=600))
    assert webhook_deliver_task(second.pk) == "abandoned"  # the fourth, failing since 600 s

    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.disabled_at, endpoint.consecutive_failures) == (False, clock.now, 4)
    assert endpoint.disabled_reason.startswith(
        "Disabled after 4 failed attempts in a row over 0 h 10 min without a success "
        "(failing since 2026-03-10T15:00:00Z); the last: "
    )
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"abandoned"}
    [message] = mail.outbox
    assert message.to == [staff.email]
    assert message.subject == f"Webhook endpoint disabled: {endpoint.url}"
    assert f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/" in message.body

    clock.advance(20)
    assert webhook_deliver_task(first.pk) == "skipped"  # abandoned: nothing is sent
    assert webhooks_redeliver_task() == {"queued": 0}
    assert len(mail.outbox) == 1


def test_a_disabled_endpoint_gets_nothing_already_pending(receiver, endpoint, mark):
    delivery = mark()  # receiver down: pending
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False, disabled_at=END)
    receiver.start()
    assert delivery_attempt(delivery_id=delivery.pk, now=END + timedelta(minutes=1)).outcome == "abandoned"
    assert receiver.received == []


def name_lookups(monkeypatch, table):
    """getaddrinfo answering names from `table`, literal addresses as usual; the names asked, in order."""
    real = socket.getaddrinfo
    asked = []

    def fake(host, port, *args, **kwargs):
        if host in table:
            asked.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (table[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return asked


def test_the_connection_goes_to_the_checked_address_under_the_urls_host_name(
    receiver, make_endpoint, mark, monkeypatch
):
    asked = name_lookups(monkeypatch, {"hooks.example.test": "127.0.0.1"})
    make_endpoint(url=f"http://hooks.example.test:{receiver.port}/hooks", secret=receiver.secret)
    receiver.start()
    delivery = mark()
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert asked == ["hooks.example.test"]  # resolved once, by the guard; the connection used that address
    assert receiver.received[0]["headers"]["Host"] == f"hooks.example.test:{receiver.port}"


def test_dns_rebinding_to_loopback_is_refused_at_send_time(receiver, make_endpoint, mark, monkeypatch, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    # Saved while the name pointed outside (created directly here); at send time it answers 127.0.0.1.
    make_endpoint(url=f"http://rebind.example.test:{receiver.port}/hooks", secret=receiver.secret)
    name_lookups(monkeypatch, {"rebind.example.test": "127.0.0.1"})
    receiver.start()
    delivery = mark()
    delivery.refresh_from_db()
    assert receiver.received == []  # no connection was made
    assert (delivery.status, delivery.last_response_code) == ("pending", None)
    assert "127.0.0.1, a loopback address" in delivery.last_error


def test_deliveries_wait_for_the_commit(receiver, endpoint, session, tutor, clock, django_capture_on_commit_callbacks):
    receiver.start()
    clock.at(END)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="absent")
        assert receiver.received == []  # nothing leaves before the change commits
    assert len(receiver.verified) == 1


def certificate(tmp_path, name: str) -> tuple[str, str]:
    """A self-signed certificate for `name` (openssl), usable as its own CA."""
    import shutil
    import subprocess

    if not shutil.which("openssl"):
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    args = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}"]
    subprocess.run(
        [*args, "-addext", f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


@pytest.mark.parametrize(
    ("certified", "trusted", "outcome", "error"),
    [
        ("hooks.example.test", True, "delivered", ""),  # TLS checks the URL's name on the address checked
        ("other.example.test", True, "pending", "doesn't match 'other.example.test'"),
        ("hooks.example.test", False, "pending", "certificate verify failed"),
    ],
)
def test_https_verifies_the_certificate_for_the_urls_host_name(
    tmp_path, make_endpoint, mark, monkeypatch, certified, trusted, outcome, error
):
    cert, key = certificate(tmp_path, certified)
    if trusted:
        monkeypatch.setenv("SSL_CERT_FILE", cert)  # the default trust store, for this test: that certificate
    secret = WebhookEndpoint._meta.get_field("secret").default()
    with Receiver(secret, tls=(cert, key)) as receiver:
        name_lookups(monkeypatch, {"hooks.example.test": "127.0.0.1"})
        make_endpoint(url=f"https://hooks.example.test:{receiver.port}/hooks", secret=secret)
        delivery = mark()
    delivery.refresh_from_db()
    assert delivery.status == outcome
    assert error in delivery.last_error.lower()
    assert len(receiver.verified) == (1 if outcome == "delivered" else 0)
