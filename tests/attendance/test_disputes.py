"""Contesting a decision within the dispute window; admins settle; decisions lock after both windows."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction

from attendance.disputes import dispute_raise, dispute_settle
from attendance.models import AttendanceChange, AttendanceDispute, TutoringSession
from attendance.rules import decision_locked, dispute_refusal, tutor_change_refusal
from attendance.services import attendance_mark_by_hand
from core.errors import DomainError
from tests.conftest import T0
from tests.factories import GuardianFactory, UserFactory

pytestmark = pytest.mark.django_db

END = T0 + timedelta(hours=1)
DECIDED = END + timedelta(minutes=10)


@pytest.fixture
def parent(student):
    user = UserFactory(username="pam_parent")
    GuardianFactory(user=user, children=[student])
    return user


@pytest.fixture
def marked(session, tutor, clock):
    """Tina marked Sam absent ten minutes after the end."""
    clock.at(DECIDED)
    return attendance_mark_by_hand(session=session, by=tutor, tutor_status="present", student_status="absent")


@pytest.fixture
def overridden(session, staff, clock):
    """An admin marked Tina absent ten minutes after the end."""
    clock.at(DECIDED)
    return attendance_mark_by_hand(
        session=session, by=staff, tutor_status="absent", student_status=None, notes="No tutor"
    )


def code_of(call) -> str:
    with pytest.raises(DomainError) as raised:
        call()
    return raised.value.code


def test_a_parent_contests_the_tutors_mark(marked, parent, clock):
    clock.advance(3600)
    dispute = dispute_raise(session=marked, by=parent, note="She was there, the camera broke")
    assert (dispute.raised_by, dispute.raised_at, dispute.is_open) == (parent, clock.now, True)
    assert dispute.change == AttendanceChange.objects.get(session=marked)


def test_the_tutor_contests_an_admin_override(overridden, tutor, clock):
    clock.advance(3600)
    assert dispute_raise(session=overridden, by=tutor, note="I was there").change.source == "admin_override"


def test_outsiders_and_other_parents_find_no_session(marked, other_tutor, student):
    other = UserFactory(username="oscar_parent")
    GuardianFactory(user=other, children=[UserFactory()])
    for user in (other_tutor, other, student):
        assert code_of(lambda u=user: dispute_raise(session=marked, by=u, note="x")) == "not_found"


def test_nobody_contests_their_own_decision(marked, tutor):
    assert code_of(lambda: dispute_raise(session=marked, by=tutor, note="x")) == "own_decision"


def test_a_note_is_required(marked, parent):
    assert code_of(lambda: dispute_raise(session=marked, by=parent, note=" ")) == "notes_required"


def test_nothing_decided_nothing_to_contest(session, tutor, clock):
    clock.at(END + timedelta(hours=1))
    assert code_of(lambda: dispute_raise(session=session, by=tutor, note="x")) == "nothing_to_dispute"


def test_the_window_is_a_setting_counted_from_the_decision(marked, parent, clock, settings):
    clock.at(DECIDED + timedelta(hours=72))
    assert dispute_refusal(marked, by_id=parent.pk, now=clock.now, open_dispute=False) is None  # the last moment
    clock.advance(1)
    assert code_of(lambda: dispute_raise(session=marked, by=parent, note="x")) == "dispute_window_closed"
    settings.ATTENDANCE_DISPUTE_WINDOW_HOURS = 96
    assert dispute_raise(session=marked, by=parent, note="x").is_open


def test_one_open_dispute_at_a_time_and_the_database_agrees(overridden, tutor, parent, staff, clock):
    marked = overridden
    first = dispute_raise(session=marked, by=parent, note="x")
    assert code_of(lambda: dispute_raise(session=marked, by=tutor, note="y")) == "already_disputed"
    with pytest.raises(IntegrityError), transaction.atomic():
        AttendanceDispute.objects.create(
            session=marked, change=first.change, raised_by=tutor, raised_at=clock.now, note="z"
        )
    dispute_settle(dispute=first, by=staff, settlement="kept", note="Evidence is clear")
    assert dispute_raise(session=marked, by=tutor, note="y").is_open  # settled: another may be raised


def test_keeping_a_decision_changes_nothing_but_the_dispute(marked, parent, staff, clock):
    dispute = dispute_raise(session=marked, by=parent, note="x")
    clock.advance(60)
    settled = dispute_settle(dispute=dispute, by=staff, settlement="kept", note="The log is clear")
    assert (settled.settlement, settled.settled_by, settled.settled_at) == ("kept", staff, clock.now)
    assert TutoringSession.objects.get(pk=marked.pk).attendance_source == "manual"
    assert AttendanceChange.objects.filter(session=marked).count() == 1


def test_overriding_goes_through_the_admin_override(marked, parent, staff, clock):
    dispute = dispute_raise(session=marked, by=parent, note="x")
    settled = dispute_settle(
        dispute=dispute, by=staff, settlement="overridden", note="Camera broke", student_status="present"
    )
    session = TutoringSession.objects.get(pk=marked.pk)
    assert (session.attendance_source, session.student_attendance_status) == ("admin_override", "present")
    latest = AttendanceChange.objects.filter(session=marked).latest("id")
    assert (latest.source, latest.actor, latest.notes) == ("admin_override", staff, "Dispute settled: Camera broke")
    assert settled.settlement == "overridden"


def test_a_bad_settlement_changes_nothing(marked, parent, tutor, staff):
    dispute = dispute_raise(session=marked, by=parent, note="x")
    assert (
        code_of(lambda: dispute_settle(dispute=dispute, by=tutor, settlement="kept", note="x")) == "permission_denied"
    )
    assert code_of(lambda: dispute_settle(dispute=dispute, by=staff, settlement="overridden", note="x")) == "invalid"
    assert code_of(lambda: dispute_settle(dispute=dispute, by=staff, settlement="maybe", note="x")) == "invalid"
    dispute.refresh_from_db()
    assert dispute.is_open
    dispute_settle(dispute=dispute, by=staff, settlement="kept", note="x")
    assert code_of(lambda: dispute_settle(dispute=dispute, by=staff, settlement="kept", note="x")) == "already_settled"


# --- the lock ------------------------------------------------------------------------


def test_a_decision_locks_after_both_windows_then_only_admins_change_it(marked, tutor, parent, staff, clock):
    window_closes = END + timedelta(days=7)
    clock.at(window_closes)
    assert not decision_locked(marked, now=clock.now)
    clock.advance(1)
    assert decision_locked(marked, now=clock.now)
    assert tutor_change_refusal(marked, now=clock.now).code == "decision_locked"
    assert code_of(lambda: dispute_raise(session=marked, by=parent, note="x")) == "decision_locked"
    assert (
        code_of(
            lambda: attendance_mark_by_hand(session=marked, by=tutor, tutor_status="present", student_status="late")
        )
        == "decision_locked"
    )
    overridden = attendance_mark_by_hand(
        session=marked, by=staff, tutor_status=None, student_status="late", notes="Late"
    )
    assert overridden.attendance_source == "admin_override"
    assert AttendanceChange.objects.filter(session=marked).latest("id").actor == staff


def test_a_decision_made_late_in_the_marking_window_stays_open_to_contest_after_it(session, tutor, parent, clock):
    clock.at(END + timedelta(days=6, hours=23))
    marked = attendance_mark_by_hand(session=session, by=tutor, tutor_status="present", student_status="absent")
    clock.at(END + timedelta(days=8))  # marking window closed, dispute window still open
    assert not decision_locked(marked, now=clock.now)
    assert tutor_change_refusal(marked, now=clock.now).code == "marking_window_closed"
    assert dispute_raise(session=marked, by=parent, note="x").is_open
    clock.at(END + timedelta(days=6, hours=23 + 72, seconds=1))
    assert decision_locked(marked, now=clock.now)


def test_an_undecided_session_has_no_decision_to_lock(session, clock):
    clock.at(END + timedelta(days=30))
    assert not decision_locked(session, now=clock.now)
    assert tutor_change_refusal(session, now=clock.now).code == "marking_window_closed"


def test_the_api_refuses_a_locked_decision_with_its_code(api, marked, tutor, clock):
    clock.at(END + timedelta(days=8))
    response = api(tutor).put(
        f"/api/tutor/sessions/{marked.pk}/attendance", {"student_attendance_status": "late"}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (409, "decision_locked")
