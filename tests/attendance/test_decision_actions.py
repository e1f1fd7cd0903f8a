"""What was done with the suggestion is recorded on each history row (issue 19), and derived for old rows."""

from datetime import timedelta

import pytest

from attendance.decisions import decisions
from attendance.models import AttendanceChange, DecisionAction, TutoringSession, decision_action
from attendance.services import attendance_apply_suggestion, attendance_finalize, attendance_mark_by_hand
from families.services import absence_report
from tests.conftest import T0
from tests.factories import AttendanceChangeFactory, GuardianFactory, TutoringSessionFactory, UserFactory
from tests.whiteboard.helpers import presence_trace

pytestmark = pytest.mark.django_db

END = T0 + timedelta(hours=1)


@pytest.fixture
def late_session(session, tutor, student):
    """Sam joined 12 minutes late: the suggestion says late, surely."""
    presence_trace(session.whiteboard, tutor, T0 - timedelta(minutes=2), END)
    presence_trace(session.whiteboard, student, T0 + timedelta(minutes=12), END)
    return TutoringSession.objects.get(pk=session.pk)  # the whiteboard row as the traces left it


def only_change(session) -> AttendanceChange:
    return AttendanceChange.objects.get(session=session)


def test_tutor_choosing_both_statuses_is_chose_status(late_session, tutor):
    attendance_mark_by_hand(session=late_session, by=tutor, tutor_status="present", student_status="present", now=END)
    assert only_change(late_session).action == DecisionAction.CHOSE


def test_tutor_choosing_only_the_students_status_says_so(late_session, tutor):
    attendance_mark_by_hand(session=late_session, by=tutor, tutor_status=None, student_status="present", now=END)
    change = only_change(late_session)
    assert change.action == DecisionAction.CHOSE_STUDENT
    # Only the student's status is a decision: the tutor's was kept as it stood, not chosen.
    (decision,) = decisions()
    assert (decision.role, decision.suggested, decision.decided, decision.chosen) == (
        "student",
        "late",
        "present",
        True,
    )


def test_tutor_accepting_the_suggestion_is_accepted(late_session, tutor):
    attendance_apply_suggestion(session=late_session, by=tutor, now=END)
    change = only_change(late_session)
    assert (change.source, change.action) == ("whiteboard_auto", DecisionAction.ACCEPTED)


def test_admin_accepting_is_admin_override_but_accepted(late_session, staff):
    attendance_apply_suggestion(session=late_session, by=staff, notes="checked the recording", now=END)
    change = only_change(late_session)
    assert (change.source, change.action) == ("admin_override", DecisionAction.ACCEPTED)
    assert {d.chosen for d in decisions()} == {False}


def test_admin_choosing_is_admin_override_and_chose(late_session, staff):
    attendance_mark_by_hand(
        session=late_session, by=staff, tutor_status="present", student_status="late", notes="as suggested", now=END
    )
    change = only_change(late_session)
    assert (change.source, change.action) == ("admin_override", DecisionAction.CHOSE)
    # Chose the same as the suggestion: a real agreement, counted.
    assert {(d.chosen, d.kept) for d in decisions()} == {(True, True)}


def test_finaliser_applying_is_accepted(late_session):
    attendance_finalize(now=END + timedelta(minutes=16))
    assert only_change(late_session).action == DecisionAction.ACCEPTED


def test_parent_report_is_no_decision_on_a_suggestion(session, student):
    parent = UserFactory(username="pam_parent")
    GuardianFactory(user=parent, children=[student])
    absence_report(session=session, parent=parent, reason="dentist", now=T0 - timedelta(days=1))
    assert only_change(session).action == DecisionAction.OTHER
    assert list(decisions()) == []


SUGGESTION = {
    "tutor": {"status": "present", "confidence": 0.9},
    "student": {"status": "late", "confidence": 0.8},
}


@pytest.mark.parametrize(
    ("source", "new_student", "suggestion", "expected"),
    [
        ("whiteboard_auto", "late", SUGGESTION, DecisionAction.ACCEPTED),
        ("manual", "present", SUGGESTION, DecisionAction.CHOSE),
        ("manual", "late", SUGGESTION, DecisionAction.CHOSE),
        # An admin accepting was stored like an admin choosing: equal to the suggestion is taken as accepted.
        ("admin_override", "late", SUGGESTION, DecisionAction.ACCEPTED),
        ("admin_override", "absent", SUGGESTION, DecisionAction.CHOSE),
        ("manual", "present", None, DecisionAction.OTHER),
        ("parent_reported", "excused", None, DecisionAction.OTHER),
    ],
)
def test_old_rows_are_read_with_a_derived_action(source, new_student, suggestion, expected):
    assert (
        decision_action(
            action="", source=source, suggestion=suggestion, new_tutor_status="present", new_student_status=new_student
        )
        == expected
    )


def test_a_recorded_action_wins_over_the_derivation():
    assert (
        decision_action(
            action=DecisionAction.CHOSE,
            source="admin_override",
            suggestion=SUGGESTION,
            new_tutor_status="present",
            new_student_status="late",
        )
        == DecisionAction.CHOSE
    )


def test_old_rows_without_an_action_are_read_from_the_database_as_derived(tutor, student):
    session = TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=T0, scheduled_end=END, student_attendance_status="late"
    )
    AttendanceChangeFactory(session=session, source="admin_override", action="", suggestion=SUGGESTION, actor=None)
    assert AttendanceChange.objects.get().action == ""
    assert {d.chosen for d in decisions()} == {False}  # equal to the suggestion: applied, counted apart


@pytest.mark.postgres
def test_the_history_trigger_still_refuses_updates_of_the_new_column(late_session, tutor):
    from django.db import DatabaseError, connection, transaction

    attendance_mark_by_hand(session=late_session, by=tutor, tutor_status="present", student_status="late", now=END)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE attendance_history SET action = 'accepted_suggestion'")
