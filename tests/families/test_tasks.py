"""E-mail as Celery tasks (issue #17), in eager mode: the code a worker runs, run here after commit.

A worker process on Redis with a real SMTP server is tests/families/test_worker.py.
"""

import threading
from datetime import timedelta
from unittest import mock

import pytest
from celery.exceptions import Retry
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from kombu.exceptions import OperationalError

from attendance.services import attendance_mark_by_hand
from families.models import SentNotification
from families.tasks import (
    decision_digest_task,
    notification_deliver_task,
    notifications_redeliver_task,
)
from tests.conftest import T0
from tests.factories import TutoringSessionFactory

pytestmark = pytest.mark.django_db

END = T0 + timedelta(hours=1)


class FlakyBackend(BaseEmailBackend):
    """A mail server that refuses the next `failures` messages, then takes them; keeps what it took."""

    failures = 0
    attempts: list = []
    taken: list = []

    def send_messages(self, messages):
        for message in messages:
            FlakyBackend.attempts.append(message.extra_headers["Message-ID"])
            if FlakyBackend.failures:
                FlakyBackend.failures -= 1
                raise ConnectionRefusedError(111, "Connection refused")
            FlakyBackend.taken.append(message)
        return len(messages)


@pytest.fixture
def flaky(settings):
    settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"
    settings.NOTIFICATION_RETRY_DELAYS = [5, 30, 120]
    FlakyBackend.failures, FlakyBackend.attempts, FlakyBackend.taken = 0, [], []
    return FlakyBackend


def mark_absent(session, tutor):
    attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="absent", now=END)


def test_the_mark_makes_the_row_with_it_and_enqueues_its_delivery_after_commit(
    session, tutor, parent, django_capture_on_commit_callbacks
):
    with (
        mock.patch.object(
            notification_deliver_task, "apply_async", wraps=notification_deliver_task.apply_async
        ) as enqueued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        mark_absent(session, tutor)
        assert SentNotification.objects.filter(status="pending").count() == 1  # made in the mark's transaction
        assert not enqueued.called  # queued only after the commit

    record = SentNotification.objects.get()
    [(args, _)] = [(c.args, c.kwargs) for c in enqueued.call_args_list]
    assert args == ((record.pk,), {})
    assert record.status == "sent" and record.attempts == 0
    [message] = mail.outbox
    assert message.extra_headers["Message-ID"] == record.message_id
    assert record.message_id.startswith("<") and record.message_id.endswith("@localhost>")


def test_a_rolled_back_mark_leaves_no_row_and_enqueues_nothing(
    session, tutor, parent, django_capture_on_commit_callbacks
):
    with (
        mock.patch.object(notification_deliver_task, "apply_async") as enqueued,
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        mark_absent(session, tutor)
        assert SentNotification.objects.exists()  # made with the mark...
        raise RuntimeError("something after the mark failed")

    assert not SentNotification.objects.exists()  # ...and rolled back with it
    assert not enqueued.called
    assert mail.outbox == []


def test_with_the_broker_down_at_commit_the_mark_stands_and_the_overdue_sweep_sends_the_mail_once(
    session, tutor, parent, clock, settings, django_capture_on_commit_callbacks
):
    settings.NOTIFICATION_REDELIVER_AFTER = 600
    clock.at(END)
    refused = OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")  # kombu's, as Redis down
    with (
        mock.patch.object(notification_deliver_task, "apply_async", side_effect=refused) as enqueued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        mark_absent(session, tutor)

    assert enqueued.call_count == 1  # it was tried, after the commit, and refused
    session.refresh_from_db()
    assert session.student_attendance_status == "absent"  # the mark stands
    record = SentNotification.objects.get()
    assert (record.status, record.attempts) == ("pending", 0)
    assert mail.outbox == []

    clock.advance(599)
    assert notifications_redeliver_task.apply().get() == {"queued": 0}  # not overdue yet
    clock.advance(1)
    assert notifications_redeliver_task.apply().get() == {"queued": 1}
    assert notifications_redeliver_task.apply().get() == {"queued": 0}

    [message] = mail.outbox
    assert message.to == [parent.email]
    assert message.extra_headers["Message-ID"] == record.message_id  # the one made with the mark
    record.refresh_from_db()
    assert record.status == "sent"


def test_with_the_broker_down_the_other_rows_of_the_change_are_not_tried(
    session, tutor, parent, student, django_capture_on_commit_callbacks
):
    from tests.factories import GuardianFactory, UserFactory

    GuardianFactory(user=UserFactory(username="gus_guardian"), children=[student])
    refused = OperationalError("Connection refused.")
    with (
        mock.patch.object(notification_deliver_task, "apply_async", side_effect=refused) as enqueued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        mark_absent(session, tutor)

    # Each try waits out the publish retries (about a second): one refusal is enough to know.
    assert enqueued.call_count == 1
    assert list(SentNotification.objects.values_list("status", flat=True)) == ["pending", "pending"]


def test_a_failing_mail_server_is_retried_after_the_configured_delays_then_given_up(tutor, flaky):
    from tests.families.test_notifications import prepare

    notification = prepare(tutor)
    flaky.failures = 10
    countdowns = []

    def retry(countdown):
        countdowns.append(countdown)
        return Retry()

    def run_as_on_a_worker():  # not eager: the task asks Celery to run it again later
        notification_deliver_task.push_request(is_eager=False)
        try:
            return notification_deliver_task.run(notification.pk)
        finally:
            notification_deliver_task.pop_request()

    with mock.patch.object(notification_deliver_task, "retry", side_effect=retry):
        for _ in range(3):
            with pytest.raises(Retry):
                run_as_on_a_worker()
        assert run_as_on_a_worker() == "failed"

    notification.refresh_from_db()
    assert countdowns == [5, 30, 120]
    assert (notification.status, notification.attempts) == ("failed", 4)
    assert notification.last_error == "ConnectionRefusedError: [Errno 111] Connection refused"
    assert notification.next_attempt_at is None
    assert flaky.taken == []


def test_every_attempt_sends_the_same_message_id_and_the_first_success_is_the_last(tutor, flaky):
    from tests.families.test_notifications import prepare

    notification = prepare(tutor)
    flaky.failures = 2
    outcomes = [notification_deliver_task.apply(args=[notification.pk]).get() for _ in range(4)]

    assert outcomes == ["retry", "retry", "sent", "skipped"]
    assert flaky.attempts == [notification.message_id] * 3
    assert len(flaky.taken) == 1
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("sent", 2)


def test_redeliver_task_sends_what_is_long_overdue_and_leaves_what_is_not(tutor, flaky, clock, settings):
    from tests.families.test_notifications import prepare

    settings.NOTIFICATION_REDELIVER_AFTER = 600
    lost = prepare(tutor, key="decision_digest:lost")  # its task never ran
    clock.advance(599)
    recent = prepare(tutor, key="decision_digest:recent")
    clock.advance(1)

    assert notifications_redeliver_task.apply().get() == {"queued": 1}
    lost.refresh_from_db()
    recent.refresh_from_db()
    assert (lost.status, recent.status) == ("sent", "pending")


def test_without_a_broker_a_failed_attempt_is_retried_by_the_redeliver_task(tutor, flaky, clock, settings):
    from tests.families.test_notifications import prepare

    settings.NOTIFICATION_REDELIVER_AFTER = 60
    notification = prepare(tutor)
    flaky.failures = 1
    assert notification_deliver_task.apply(args=[notification.pk]).get() == "retry"  # due again in 5 s
    clock.advance(64)
    assert notifications_redeliver_task.apply().get() == {"queued": 0}
    clock.advance(1)
    assert notifications_redeliver_task.apply().get() == {"queued": 1}
    assert len(flaky.taken) == 1


def test_digest_task_sends_each_tutor_one_digest_a_day(tutor, student, clock):
    TutoringSessionFactory(
        tutor=tutor,
        student=student,
        scheduled_start=T0 - timedelta(days=1),
        scheduled_end=END - timedelta(days=1),
        whiteboard=None,
    )
    clock.at(T0)

    first = decision_digest_task.apply().get()
    second = decision_digest_task.apply().get()

    assert first["queued"] == [(tutor.username, 1)] and first["sent_earlier"] == []
    assert second["queued"] == [] and second["sent_earlier"] == [(tutor.username, 1)]
    assert [m.to for m in mail.outbox] == [[tutor.email]]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_digest_runs_at_once_send_each_tutor_one_mail(tutor, student, clock):
    TutoringSessionFactory(
        tutor=tutor,
        student=student,
        scheduled_start=T0 - timedelta(days=1),
        scheduled_end=END - timedelta(days=1),
        whiteboard=None,
    )
    clock.at(T0)
    barrier = threading.Barrier(2)
    reports = []

    def run():
        try:
            barrier.wait()
            reports.append(decision_digest_task.apply(throw=True).result)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(reports) == 2  # both ran to the end
    assert [m.to for m in mail.outbox] == [[tutor.email]]
    assert SentNotification.objects.get().status == "sent"


# --- admin: see what failed, send it again ---------------------------------------------------------


@pytest.fixture
def admin_client(staff):
    client = Client()
    client.force_login(staff)
    return client


def test_admin_lists_a_failed_mail_with_its_reason_and_sends_it_again(
    admin_client, tutor, flaky, settings, django_capture_on_commit_callbacks
):
    from tests.families.test_notifications import prepare

    settings.NOTIFICATION_RETRY_DELAYS = []
    failed = prepare(tutor, key="decision_digest:failed")
    flaky.failures = 1
    assert notification_deliver_task.apply(args=[failed.pk]).get() == "failed"
    sent = prepare(tutor, key="decision_digest:sent")
    notification_deliver_task.apply(args=[sent.pk])

    listing = admin_client.get(reverse("admin:families_sentnotification_changelist"), {"status__exact": "failed"})
    assert "ConnectionRefusedError: [Errno 111] Connection refused" in listing.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:families_sentnotification_changelist"),
            {"action": "send_again", "_selected_action": [failed.pk, sent.pk]},
            follow=True,
        )
    shown = [str(m) for m in response.context["messages"]]
    assert shown == ["Queued 1 e-mail(s) again.", "1 e-mail(s) were sent already; nothing to do."]
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("sent", 0)
    assert [m.extra_headers["Message-ID"] for m in flaky.taken] == [sent.message_id, failed.message_id]


def test_a_staff_member_who_may_only_view_cannot_send_again(tutor, flaky):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory
    from tests.families.test_notifications import prepare

    viewer = UserFactory(username="vera_viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_sentnotification"))
    failed = prepare(tutor)
    SentNotification.objects.filter(pk=failed.pk).update(status="failed")
    client = Client()
    client.force_login(viewer)

    response = client.post(
        reverse("admin:families_sentnotification_changelist"),
        {"action": "send_again", "_selected_action": [failed.pk]},
    )
    assert response.status_code in (200, 302)
    failed.refresh_from_db()
    assert failed.status == "failed"
    assert flaky.taken == []
