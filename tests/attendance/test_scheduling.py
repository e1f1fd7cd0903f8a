"""A tutor cancels or moves an upcoming session (attendance.scheduling): history, rules, and who is told."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction

from attendance.models import AttendanceChange, TutoringSession
from attendance.scheduling import session_cancel, session_reschedule
from attendance.services import attendance_mark_by_hand
from core.errors import DomainError
from families.models import SentNotification
from families.services import absence_report
from tests.conftest import T0
from tests.factories import GuardianFactory, UserFactory

pytestmark = pytest.mark.django_db

END = T0 + timedelta(hours=1)
TOMORROW = T0 + timedelta(days=1)


@pytest.fixture
def parent(student):
    user = UserFactory(username="pam_parent", email="pam@example.com")
    GuardianFactory(user=user, children=[student])
    return user


@pytest.fixture
def before(clock):
    return clock.at(T0 - timedelta(days=2))


def refusal(call) -> str:
    with pytest.raises(DomainError) as raised:
        call()
    return raised.value.code


def test_a_cancellation_excuses_both_and_is_kept_in_the_history(session, tutor, before):
    cancelled = session_cancel(session=session, by=tutor, reason="I am ill")
    assert (cancelled.tutor_attendance_status, cancelled.student_attendance_status) == ("excused", "excused")
    assert (cancelled.attendance_source, cancelled.attendance_marked_by) == ("manual", tutor)
    change = AttendanceChange.objects.get(session=session)
    assert (change.event, change.action, change.actor, change.source, change.notes, change.changed_at) == (
        "cancel",
        "other",  # no suggestion was decided on: agreement and calibration leave it out
        tutor,
        "manual",
        "I am ill",
        before,
    )


def test_the_student_and_every_parent_are_told_after_commit(
    session, tutor, student, parent, before, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        session_cancel(session=session, by=tutor, reason="I am ill")
        # Made with the change, in its transaction (pending); only their delivery waits for the commit.
        pending = SentNotification.objects.filter(change__session=session)
        assert sorted(pending.values_list("kind", "email", "status")) == sorted(
            [("session_cancelled", student.email, "pending"), ("session_cancelled", parent.email, "pending")]
        )
        assert mail.outbox == []
    assert sorted(m.to[0] for m in mail.outbox) == sorted([student.email, parent.email])
    assert set(pending.values_list("status", flat=True)) == {"sent"}
    assert all("Cancelled" in m.subject and "I am ill" in m.body for m in mail.outbox)


@pytest.mark.parametrize(
    "setup, code",
    [
        ("started", "already_started"),
        ("cancelled", "already_cancelled"),
        ("reported", "already_reported"),
        ("overridden", "admin_override_locked"),
    ],
)
def test_a_cancellation_is_refused(session, tutor, staff, parent, clock, before, setup, code):
    if setup == "started":
        clock.at(T0)
    elif setup == "cancelled":
        session_cancel(session=session, by=tutor, reason="Ill")
    elif setup == "reported":
        absence_report(session=session, parent=parent, reason="Dentist")
    else:
        attendance_mark_by_hand(session=session, by=staff, tutor_status=None, student_status="excused", notes="x")
    count = AttendanceChange.objects.count()
    assert refusal(lambda: session_cancel(session=session, by=tutor, reason="Ill")) == code
    assert AttendanceChange.objects.count() == count


def test_only_the_tutor_cancels_and_gives_a_reason(session, tutor, other_tutor, staff, before):
    assert refusal(lambda: session_cancel(session=session, by=other_tutor, reason="x")) == "not_found"
    assert refusal(lambda: session_cancel(session=session, by=staff, reason="x")) == "permission_denied"
    assert refusal(lambda: session_cancel(session=session, by=tutor, reason="  ")) == "reason_required"
    assert not AttendanceChange.objects.exists()


def test_after_a_cancellation_a_parent_cannot_report_over_it(session, tutor, parent, before):
    session_cancel(session=session, by=tutor, reason="Ill")
    assert refusal(lambda: absence_report(session=session, parent=parent, reason="x")) == "already_marked"


def test_a_move_changes_the_times_and_keeps_both_in_the_history(session, tutor, before, clock):
    session.finalize_checked_at = before
    session.save()
    moved = session_reschedule(
        session=session, by=tutor, start=TOMORROW, end=TOMORROW + timedelta(hours=1), reason="Clash"
    )
    moved.refresh_from_db()
    assert (moved.scheduled_start, moved.scheduled_end, moved.finalize_checked_at) == (
        TOMORROW,
        TOMORROW + timedelta(hours=1),
        None,
    )
    assert moved.attendance_source == "system_default"
    change = AttendanceChange.objects.get()
    assert (change.event, change.action, change.notes) == ("reschedule", "other", "Clash")
    assert change.rescheduled == {
        "from": {"start": T0.isoformat(), "end": END.isoformat()},
        "to": {"start": TOMORROW.isoformat(), "end": (TOMORROW + timedelta(hours=1)).isoformat()},
    }


def test_a_move_withdraws_a_parents_report_for_the_old_time(session, tutor, parent, before):
    absence_report(session=session, parent=parent, reason="Dentist")
    moved = session_reschedule(
        session=session, by=tutor, start=TOMORROW, end=TOMORROW + timedelta(hours=1), reason="Moved"
    )
    assert (moved.attendance_source, moved.student_attendance_status) == ("system_default", "present")


def test_a_move_tells_the_student_and_parents_the_new_time(
    session, tutor, student, parent, before, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        session_reschedule(session=session, by=tutor, start=TOMORROW, end=TOMORROW + timedelta(hours=1), reason="Clash")
    assert sorted(m.to[0] for m in mail.outbox) == sorted([student.email, parent.email])
    assert all(m.subject.startswith("Moved") and "Clash" in m.body for m in mail.outbox)
    assert not any("withdrew" in m.body for m in mail.outbox)  # not mistaken for a parent's withdrawal


@pytest.mark.parametrize(
    "start_offset, length, code",
    [
        (timedelta(days=-3), timedelta(hours=1), "invalid"),  # in the past
        (timedelta(days=1), timedelta(0), "invalid"),  # ends when it starts
        (timedelta(days=1), timedelta(hours=13), "invalid"),  # longer than 12 hours
        (timedelta(0), timedelta(hours=1), "invalid"),  # the same time
    ],
)
def test_a_move_to_an_impossible_time_is_refused(session, tutor, before, start_offset, length, code):
    start = T0 + start_offset
    assert (
        refusal(lambda: session_reschedule(session=session, by=tutor, start=start, end=start + length, reason="x"))
        == code
    )
    assert TutoringSession.objects.get(pk=session.pk).scheduled_start == T0


def test_a_started_or_cancelled_session_is_not_moved(session, tutor, clock, before):
    session_cancel(session=session, by=tutor, reason="Ill")
    move = lambda: session_reschedule(  # noqa: E731
        session=session, by=tutor, start=TOMORROW, end=TOMORROW + timedelta(hours=1), reason="x"
    )
    assert refusal(move) == "already_cancelled"
    clock.at(T0 + timedelta(minutes=1))
    assert refusal(move) == "already_started"


def test_a_cancellation_rolled_back_leaves_no_email_behind(session, tutor, student, parent, before):
    # The e-mail rows are made inside the cancellation's transaction: they go with it.
    with pytest.raises(RuntimeError), transaction.atomic():
        session_cancel(session=session, by=tutor, reason="I am ill")
        assert SentNotification.objects.count() == 2
        raise RuntimeError("the request failed after the cancellation")
    assert SentNotification.objects.count() == 0
    assert AttendanceChange.objects.count() == 0
