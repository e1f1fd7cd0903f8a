"""When an endpoint is disabled (issue 18): only once it has failed without a single success for
WEBHOOK_DISABLE_AFTER_SECONDS, in at least WEBHOOK_DISABLE_AFTER_FAILURES attempts. A busy endpoint down
for ten minutes keeps its deliveries, and its retries deliver them when it is back.

Against a real receiver on 127.0.0.1 (down: connections refused; up: answers 204, or 500 when told),
with server time under the test's control (the clock fixture, time-machine)."""

import runpy
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured

from tests.conftest import T0
from tests.webhook_receiver import Receiver
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import delivery_attempt, endpoint_disable_due, endpoint_enable
from webhooks.tasks import webhook_deliver_task

pytestmark = pytest.mark.django_db

DAYS_5 = 5 * 24 * 3600
SETTINGS = str(Path(__file__).resolve().parents[2] / "config" / "settings.py")
DEFAULT_DELAYS = [30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800]


@pytest.fixture(autouse=True)
def _the_default_policy(settings):
    # config/settings.py's defaults, not conftest's short ones: the cases are about real spans of time.
    settings.WEBHOOK_RETRY_DELAYS = DEFAULT_DELAYS
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 20
    settings.WEBHOOK_DISABLE_AFTER_SECONDS = DAYS_5


@pytest.fixture
def receiver():
    r = Receiver(WebhookEndpoint._meta.get_field("secret").default())
    yield r
    r.stop()


@pytest.fixture
def endpoint(receiver, make_endpoint):
    return make_endpoint(url=receiver.url, secret=receiver.secret)


def event(endpoint, at) -> WebhookDelivery:
    """A delivery made at `at` (a mark, a join), due at once."""
    n = WebhookDelivery.objects.count() + 1
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type="attendance.marked",
        event_id=f"evt_{n}",
        webhook_id=f"msg_{n}",
        payload={"n": n},
        created_at=at,
        next_attempt_at=at,
    )


def deliver(delivery: WebhookDelivery) -> str:
    """The delivery task, run in-process as without a broker: its outcome."""
    return webhook_deliver_task.apply(args=[delivery.pk]).get()


def sent_at(endpoint, at) -> str:
    """A new event sent at `at` (the clock moved there): the task's outcome."""
    return deliver(event(endpoint, at))


def state(endpoint) -> tuple:
    endpoint.refresh_from_db()
    return endpoint.enabled, endpoint.consecutive_failures, endpoint.failing_since


def test_twenty_failures_in_ten_minutes_leave_a_busy_endpoint_enabled_and_the_retries_deliver(
    receiver, endpoint, clock, staff
):
    # The receiver is down; twenty events in ten minutes, each failing its first attempt.
    deliveries = []
    for i in range(20):
        clock.at(T0 + timedelta(seconds=30 * i))
        deliveries.append(event(endpoint, clock.now))
        assert deliver(deliveries[-1]) == "retry"
    assert clock.now - T0 < timedelta(minutes=10)
    assert state(endpoint) == (True, 20, T0)  # the count is reached, the time is not
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"pending"}
    assert mail.outbox == []

    receiver.start()  # back after ten minutes
    clock.at(T0 + timedelta(minutes=20))
    assert [deliver(d) for d in deliveries] == ["delivered"] * 20
    assert state(endpoint) == (True, 0, None)  # the success ended the run
    assert len(receiver.verified) == 20
    assert mail.outbox == []


def test_failures_spanning_the_period_disable_the_endpoint_and_admins_are_emailed(receiver, endpoint, clock, staff):
    # Down from T0 for days: a busy endpoint's events keep failing (its deliveries give up after ~24 h).
    for i in range(20):
        assert sent_at(endpoint, clock.at(T0 + timedelta(minutes=i))) == "retry"
    assert sent_at(endpoint, clock.at(T0 + timedelta(days=1))) == "retry"
    assert sent_at(endpoint, clock.at(T0 + timedelta(seconds=DAYS_5 - 1))) == "retry"  # a second short
    assert state(endpoint) == (True, 22, T0)
    assert mail.outbox == []
    waiting = event(endpoint, T0 + timedelta(days=4))  # pending, waiting for its retry

    last = event(endpoint, clock.at(T0 + timedelta(days=5)))
    assert deliver(last) == "abandoned"

    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.disabled_at, endpoint.consecutive_failures) == (False, clock.now, 23)
    assert endpoint.failing_since == T0  # kept: since when it failed, for whoever enables it again
    assert endpoint.disabled_reason.startswith(
        "Disabled after 23 failed attempts in a row over 5 d 0 h 0 min without a success "
        "(failing since 2026-03-10T14:00:00Z); the last: "
    )
    waiting.refresh_from_db()
    assert waiting.status == "abandoned"
    [message] = mail.outbox
    assert message.to == [staff.email]
    assert message.subject == f"Webhook endpoint disabled: {endpoint.url}"
    assert "failing since 2026-03-10T14:00:00Z" in message.body
    assert receiver.received == []


def test_a_quiet_endpoint_is_not_disabled_on_a_few_failures_days_apart(receiver, endpoint, clock):
    for day in (0, 3, 6, 9):
        assert sent_at(endpoint, clock.at(T0 + timedelta(days=day))) == "retry"
    assert state(endpoint) == (True, 4, T0)  # nine days, but four attempts: fewer than 20


def test_a_success_in_between_starts_the_run_again(receiver, endpoint, clock):
    receiver.answers["/hooks"] = (500, {})
    receiver.start()
    for i in range(20):
        sent_at(endpoint, clock.at(T0 + timedelta(minutes=i)))
    assert state(endpoint) == (True, 20, T0)

    del receiver.answers["/hooks"]  # a success on day 3
    assert sent_at(endpoint, clock.at(T0 + timedelta(days=3))) == "delivered"
    assert state(endpoint) == (True, 0, None)

    receiver.answers["/hooks"] = (500, {})  # failing again from day 3 + 1 h
    restart = T0 + timedelta(days=3, hours=1)
    for i in range(25):
        assert sent_at(endpoint, clock.at(restart + timedelta(minutes=i))) == "retry"
    # Day 5 (and day 8 minus a second): long enough since T0, not since the success.
    assert sent_at(endpoint, clock.at(T0 + timedelta(days=5))) == "retry"
    assert sent_at(endpoint, clock.at(restart + timedelta(seconds=DAYS_5 - 1))) == "retry"
    assert state(endpoint) == (True, 27, restart)

    assert sent_at(endpoint, clock.at(restart + timedelta(seconds=DAYS_5))) == "abandoned"
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.failing_since) == (False, restart)


def test_enabling_again_starts_a_new_run(endpoint, clock):
    for i in range(20):
        sent_at(endpoint, clock.at(T0 + timedelta(minutes=i)))
    assert sent_at(endpoint, clock.at(T0 + timedelta(days=5))) == "abandoned"

    endpoint_enable(endpoint=endpoint)
    assert state(endpoint) == (True, 0, None)
    # Still down: a new run, which must last the period again.
    assert sent_at(endpoint, clock.at(T0 + timedelta(days=5, hours=1))) == "retry"
    assert state(endpoint) == (True, 1, T0 + timedelta(days=5, hours=1))


def test_an_attempt_that_started_before_the_run_moves_its_start_back(endpoint):
    first = event(endpoint, T0)
    second = event(endpoint, T0)
    assert delivery_attempt(delivery_id=first.pk, now=T0 + timedelta(seconds=5)).outcome == "retry"
    assert delivery_attempt(delivery_id=second.pk, now=T0 + timedelta(seconds=2)).outcome == "retry"
    assert state(endpoint) == (True, 2, T0 + timedelta(seconds=2))


@pytest.mark.parametrize(
    ("failures", "failing_for", "due"),
    [
        (20, timedelta(minutes=10), False),  # a busy endpoint down for ten minutes
        (20, timedelta(days=5) - timedelta(seconds=1), False),
        (20, timedelta(days=5), True),
        (19, timedelta(days=30), False),  # a quiet endpoint: long, but few attempts
        (500, timedelta(days=6), True),
    ],
)
def test_the_rule_needs_both_the_time_and_the_count(failures, failing_for, due):
    assert endpoint_disable_due(failures=failures, failing_since=T0, now=T0 + failing_for) is due


def test_no_limit_never_disables(settings):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 0
    assert not endpoint_disable_due(failures=10_000, failing_since=T0, now=T0 + timedelta(days=365))


def test_the_default_period_outlasts_the_retries_and_a_shorter_one_is_refused(monkeypatch):
    from config.settings import WEBHOOK_DISABLE_AFTER_SECONDS, WEBHOOK_RETRY_DELAYS

    assert sum(WEBHOOK_RETRY_DELAYS) <= WEBHOOK_DISABLE_AFTER_SECONDS
    monkeypatch.setenv("SECRET_KEY", "x" * 50)
    monkeypatch.setenv("WEBHOOK_RETRY_DELAYS", ",".join(map(str, DEFAULT_DELAYS)))
    monkeypatch.setenv("WEBHOOK_DISABLE_AFTER_SECONDS", str(sum(DEFAULT_DELAYS)))
    assert runpy.run_path(SETTINGS)["WEBHOOK_DISABLE_AFTER_SECONDS"] == 85350  # the span: allowed
    monkeypatch.setenv("WEBHOOK_DISABLE_AFTER_SECONDS", "3600")
    with pytest.raises(ImproperlyConfigured, match="shorter than the retries"):
        runpy.run_path(SETTINGS)
