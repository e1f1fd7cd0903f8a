"""E-mails (issue #6): after commit, never twice, never for a rolled-back change, as people asked."""

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection, transaction

from accounts.models import profile_for
from attendance.models import AttendanceChange
from attendance.services import attendance_finalize, attendance_mark_by_hand
from attendance.signals import attendance_recorded
from families.models import Guardian, SentNotification
from families.services import (
    absence_report,
    absence_withdraw,
    attendance_change_notify,
    decision_digest_send,
    notification_deliver,
    notification_prepare,
)
from families.tasks import decision_digest_task
from tests.conftest import T0
from tests.factories import GuardianFactory, TutoringSessionFactory, UserFactory
from tests.whiteboard.helpers import presence_trace

pytestmark = pytest.mark.django_db

BEFORE = T0 - timedelta(hours=2)
END = T0 + timedelta(hours=1)


def mark(session, by, status, *, now=END, notes=""):
    return attendance_mark_by_hand(
        session=session, by=by, tutor_status=None, student_status=status, notes=notes, now=now
    )


def test_parent_is_emailed_once_the_absent_mark_commits(session, tutor, parent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        mark(session, tutor, "absent")
        assert mail.outbox == []  # not before the commit

    [message] = mail.outbox
    assert message.to == [parent.email]
    assert message.subject == "Sam was marked absent: Algebra, Tue 10 Mar"
    assert f"Sam was marked absent for Algebra with {tutor.get_full_name()}" in message.body
    assert "(by the tutor)" in message.body
    record = SentNotification.objects.get()
    change = AttendanceChange.objects.get()
    assert (record.key, record.kind, record.recipient, record.change) == (
        f"student_absent:{change.pk}:{parent.pk}",
        "student_absent",
        parent,
        change,
    )
    assert record.sent_at is not None


def test_mail_has_plain_text_and_html_alternatives(session, tutor, parent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        mark(session, tutor, "late")

    [message] = mail.outbox
    assert "<html" not in message.body
    assert "Sam was marked late" in message.body
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert html.lstrip().startswith("<!doctype html>")
    assert "<strong>Sam" in html
    assert "http://127.0.0.1:8000/family/" in html


def test_calling_the_sender_twice_sends_one_mail(session, tutor, parent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        mark(session, tutor, "absent")
    change = AttendanceChange.objects.get()

    assert attendance_change_notify(change=change) == []  # a retry: nothing new, nothing left to send
    attendance_recorded.send(sender=AttendanceChange, change=change)  # a second delivery of the signal

    assert len(mail.outbox) == 1
    assert SentNotification.objects.count() == 1


def test_nothing_is_sent_for_a_rolled_back_mark(session, tutor, parent, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        mark(session, tutor, "absent")
        raise RuntimeError("something after the mark failed")

    assert callbacks == []
    assert mail.outbox == []
    assert not SentNotification.objects.exists()


def test_per_parent_setting_is_respected(session, tutor, parent, student, django_capture_on_commit_callbacks):
    quiet = UserFactory(username="quentin_parent")
    GuardianFactory(user=quiet, children=[student], notify_absent_or_late=False)

    with django_capture_on_commit_callbacks(execute=True):
        mark(session, tutor, "absent")

    assert [m.to for m in mail.outbox] == [[parent.email]]
    Guardian.objects.filter(user=parent).update(notify_absent_or_late=False)
    second = TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=T0 + timedelta(days=1), scheduled_end=END + timedelta(days=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        mark(second, tutor, "late", now=END + timedelta(days=1))
    assert len(mail.outbox) == 1


def test_parents_of_other_children_hear_nothing(
    session, tutor, parent, other_parent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        mark(session, tutor, "absent")
    assert [m.to for m in mail.outbox] == [[parent.email]]


def test_present_left_early_and_an_unchanged_status_send_nothing(
    session, tutor, parent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        mark(session, tutor, "left_early")
        mark(session, tutor, "absent")
        mark(session, tutor, "absent", notes="confirmed with the family")  # still absent: no news
        mark(session, tutor, "present")
    assert [m.subject.split(":")[0] for m in mail.outbox] == ["Sam was marked absent"]


def test_parent_is_told_when_the_job_marks_the_child_late(
    session, tutor, student, parent, django_capture_on_commit_callbacks
):
    presence_trace(session.whiteboard, tutor, T0, END)
    presence_trace(session.whiteboard, student, T0 + timedelta(minutes=12), END)

    with django_capture_on_commit_callbacks(execute=True):
        report = attendance_finalize(now=END + timedelta(hours=1))

    assert report.applied == 1
    [message] = mail.outbox
    assert "Sam was marked late" in message.body
    assert "from the whiteboard" in message.body


def test_parent_is_told_when_an_admin_overrides_to_absent(session, staff, parent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        mark(session, staff, "absent", notes="No-show confirmed by phone")
    [message] = mail.outbox
    assert "(by an administrator)" in message.body


def test_times_are_in_the_recipients_zone(session, tutor, parent, django_capture_on_commit_callbacks):
    profile = profile_for(parent)
    profile.time_zone = "America/New_York"
    profile.save()
    with django_capture_on_commit_callbacks(execute=True):
        mark(session, tutor, "absent")
    [message] = mail.outbox
    assert "Tuesday 10 March, 10:00\N{EN DASH}11:00 EDT" in message.body  # T0 is 14:00 UTC
    assert "America/New_York" in message.alternatives[0][0]


def test_a_parent_without_an_address_is_skipped(session, tutor, parent, django_capture_on_commit_callbacks):
    parent.email = ""
    parent.save()
    with django_capture_on_commit_callbacks(execute=True):
        mark(session, tutor, "absent")
    assert mail.outbox == []
    assert not SentNotification.objects.exists()


def test_a_mail_server_failure_is_recorded_and_the_retry_sends_it(
    session, tutor, parent, django_capture_on_commit_callbacks
):
    with (
        mock.patch("django.core.mail.EmailMultiAlternatives.send", side_effect=OSError("connection refused")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        mark(session, tutor, "absent")  # the mark itself succeeds
    assert mail.outbox == []
    record = SentNotification.objects.get()
    assert (record.status, record.attempts, record.last_error) == ("pending", 1, "OSError: connection refused")

    assert notification_deliver(notification_id=record.pk).outcome == "sent"
    assert len(mail.outbox) == 1


def test_a_failing_notification_does_not_break_the_mark(session, tutor, parent, django_capture_on_commit_callbacks):
    def make_one_then_fail(*, change):
        prepare(tutor, key="half-made")
        raise RuntimeError("bug")

    with (
        mock.patch("families.receivers.attendance_change_notify", side_effect=make_one_then_fail),
        django_capture_on_commit_callbacks(execute=True),
    ):
        mark(session, tutor, "absent")
    session.refresh_from_db()
    assert session.student_attendance_status == "absent"
    assert AttendanceChange.objects.count() == 1
    assert not SentNotification.objects.exists()  # the half-made e-mails went with the savepoint
    assert mail.outbox == []


# --- the tutor hears about parents' reports -------------------------------------------------


def test_tutor_is_emailed_when_a_parent_reports_an_absence(session, tutor, parent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        absence_report(session=session, parent=parent, reason="Ill with a cold", now=BEFORE)

    [message] = mail.outbox  # the parent is not told about their own report (excused, not absent)
    assert message.to == [tutor.email]
    assert message.subject == f"Absence reported: {session.student.get_full_name()}, Algebra, Tue 10 Mar 14:00"
    assert f"Pam Parent reported that {session.student.get_full_name()} will miss Algebra" in message.body
    assert '"Ill with a cold"' in message.body
    assert f"http://127.0.0.1:8000/sessions/{session.pk}/" in message.body
    assert "Ill with a cold" in message.alternatives[0][0]


def test_tutor_is_emailed_when_the_report_is_withdrawn(session, tutor, parent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        absence_report(session=session, parent=parent, reason="Ill", now=BEFORE)
        absence_withdraw(session=session, parent=parent, now=BEFORE + timedelta(minutes=10))

    assert [m.subject.split(":")[0] for m in mail.outbox] == ["Absence reported", "Absence report withdrawn"]
    assert f"withdrew the absence report for {session.student.get_full_name()}" in mail.outbox[1].body
    assert SentNotification.objects.filter(recipient=tutor).count() == 2


def test_a_tutor_mark_over_a_report_is_not_sent_to_the_tutor(
    session, tutor, parent, django_capture_on_commit_callbacks
):
    absence_report(session=session, parent=parent, reason="Ill", now=BEFORE)
    with django_capture_on_commit_callbacks(execute=True):
        mark(session, tutor, "present")
    assert mail.outbox == []


# --- the key ------------------------------------------------------------------------------------


def prepare(tutor, key="decision_digest:test", count=0):
    return notification_prepare(
        key=key,
        kind="decision_digest",
        recipient=tutor,
        template="decision_digest",
        context={"cards": [], "count": count},
    )


def test_one_key_sends_one_mail_whatever_the_context(tutor):
    first, second = prepare(tutor), prepare(tutor, count=3)
    assert first.pk == second.pk
    outcomes = [notification_deliver(notification_id=first.pk).outcome for _ in range(2)]
    assert outcomes == ["sent", "skipped"]
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "0 sessions waiting for your attendance decision"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_of_one_notification_send_one_mail(tutor):
    notification = prepare(tutor, key="decision_digest:race")
    barrier = threading.Barrier(4)
    results = []

    def send():
        try:
            barrier.wait()
            results.append(notification_deliver(notification_id=notification.pk).outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == ["sent", "skipped", "skipped", "skipped"]
    assert len(mail.outbox) == 1


# --- the daily digest ----------------------------------------------------------------------------


@pytest.fixture
def waiting(tutor, student):
    """Two ended sessions of Tina's nobody has decided, one decided, one too old to mark."""

    def at(days, **kwargs):
        return TutoringSessionFactory(
            tutor=tutor,
            student=student,
            scheduled_start=T0 - timedelta(days=days),
            scheduled_end=END - timedelta(days=days),
            whiteboard=None,
            **kwargs,
        )

    return {
        "yesterday": at(1, title="Algebra"),
        "last_week": at(6, title="Geometry"),
        "decided": at(2, title="Decided", attendance_source="manual"),
        "too_old": at(9, title="Too old"),
    }


def test_digest_lists_the_sessions_waiting_for_the_tutors_decision(waiting, tutor, other_tutor, clock):
    clock.at(T0)
    report = decision_digest_task()

    assert report["queued"] == [(tutor.username, 2)]
    [message] = mail.outbox
    assert message.to == [tutor.email]
    assert message.subject == "2 sessions waiting for your attendance decision"
    assert "Geometry" in message.body and "Algebra" in message.body
    assert message.body.index("Geometry") < message.body.index("Algebra")  # oldest first
    assert "Decided" not in message.body and "Too old" not in message.body
    assert f"/sessions/{waiting['yesterday'].pk}/" in message.alternatives[0][0]


def test_digest_is_made_once_per_tutor_per_day(waiting, tutor):
    decision_digest_send(now=T0)
    again = decision_digest_send(now=T0 + timedelta(hours=6))

    assert (again.queued, again.already_sent) == ([], [(tutor, 2)])
    assert SentNotification.objects.count() == 1
    [(_, _, tomorrow)] = decision_digest_send(now=T0 + timedelta(days=1)).queued
    assert tomorrow.key == f"decision_digest:{tutor.pk}:2026-03-11"


def test_digest_day_is_the_business_day(waiting, tutor, settings):
    settings.TIME_ZONE = "Asia/Tokyo"  # 23:30 UTC is already the next morning there
    late_evening = T0.replace(hour=23, minute=30)
    assert decision_digest_send(now=late_evening).day.isoformat() == "2026-03-11"


def test_digest_command_prints_what_it_did_and_is_idempotent(waiting, tutor, clock, capsys):
    clock.at(T0)
    call_command("send_decision_digest")
    call_command("send_decision_digest")

    out = capsys.readouterr().out
    assert "Queued tina_tutor's digest of 2 session(s)." in out
    assert "Skipped tina_tutor: today's digest (2 session(s)) was made already." in out
    assert "Digest for 2026-03-10: 0 queued, 1 made earlier, 0 without an address." in out
    assert len(mail.outbox) == 1


def test_nothing_waiting_sends_nothing(tutor, session):
    report = decision_digest_send(now=T0)
    assert report.queued == [] and not SentNotification.objects.exists()
