"""Parents' absence reports and withdrawals (issue #6): the rules, in the service layer."""

from datetime import timedelta

import pytest

from attendance.models import AttendanceChange, AttendanceSource, TutoringSession
from attendance.services import attendance_finalize, attendance_mark_by_hand
from core.errors import DomainError
from families.services import absence_report, absence_withdraw
from tests.conftest import T0
from tests.factories import GuardianFactory, TutoringSessionFactory, UserFactory

pytestmark = pytest.mark.django_db

BEFORE = T0 - timedelta(hours=2)
END = T0 + timedelta(hours=1)


def state(session) -> tuple:
    session.refresh_from_db()
    return session.tutor_attendance_status, session.student_attendance_status, session.attendance_source


def test_report_marks_the_child_excused_with_the_reason_and_a_history_record(session, parent):
    absence_report(session=session, parent=parent, reason="  Ill with a cold ", now=BEFORE)

    session.refresh_from_db()
    assert state(session) == ("present", "excused", "parent_reported")
    assert session.attendance_notes == "Ill with a cold"
    assert (session.attendance_marked_by, session.attendance_marked_at) == (parent, BEFORE)
    change = AttendanceChange.objects.get(session=session)
    assert (change.actor, change.source, change.previous_source) == (parent, "parent_reported", "system_default")
    assert (change.old_student_status, change.new_student_status, change.notes) == (
        "present",
        "excused",
        "Ill with a cold",
    )
    assert (change.old_tutor_status, change.new_tutor_status) == ("present", "present")


@pytest.mark.parametrize("reason", ["", "   "])
def test_report_needs_a_reason(session, parent, reason):
    with pytest.raises(DomainError) as error:
        absence_report(session=session, parent=parent, reason=reason, now=BEFORE)
    assert error.value.code == "reason_required"
    assert state(session) == ("present", "present", "system_default")


def test_withdraw_restores_exactly_what_was_there_and_writes_history(session, parent):
    # Not the defaults, to show they are read from the report's history record.
    TutoringSession.objects.filter(pk=session.pk).update(
        tutor_attendance_status="late", student_attendance_status="left_early"
    )
    absence_report(session=session, parent=parent, reason="Dentist", now=BEFORE)

    absence_withdraw(session=session, parent=parent, now=BEFORE + timedelta(minutes=5))

    assert state(session) == ("late", "left_early", "system_default")
    _report, withdrawal = AttendanceChange.objects.filter(session=session).order_by("id")
    assert (withdrawal.actor, withdrawal.source, withdrawal.previous_source) == (
        parent,
        "system_default",
        "parent_reported",
    )
    assert (withdrawal.old_student_status, withdrawal.new_student_status) == ("excused", "left_early")
    assert withdrawal.changed_at == BEFORE + timedelta(minutes=5)


def test_a_withdrawn_report_leaves_the_session_to_the_finalising_job_and_the_tutor(session, parent, tutor):
    absence_report(session=session, parent=parent, reason="Dentist", now=BEFORE)
    absence_withdraw(session=session, parent=parent, now=BEFORE)

    # As if never reported: the job settles it from the whiteboard (nobody joined: absent)...
    report = attendance_finalize(now=END + timedelta(hours=1))
    assert report.applied == 1
    assert state(session) == ("absent", "absent", "whiteboard_auto")
    # ...and the tutor can still correct it as usual.
    attendance_mark_by_hand(
        session=session, by=tutor, tutor_status="present", student_status="absent", now=END + timedelta(hours=2)
    )
    assert state(session) == ("present", "absent", "manual")


def test_a_reported_absence_is_not_settled_by_the_finalising_job(session, parent):
    absence_report(session=session, parent=parent, reason="Dentist", now=BEFORE)

    report = attendance_finalize(now=END + timedelta(hours=1))

    assert (report.applied, report.left_for_tutor) == (0, 0)
    assert state(session) == ("present", "excused", "parent_reported")


def test_the_tutor_still_has_the_last_word_after_the_start(session, parent, tutor):
    absence_report(session=session, parent=parent, reason="Dentist", now=BEFORE)

    attendance_mark_by_hand(
        session=session, by=tutor, tutor_status=None, student_status="present", notes="Came after all", now=END
    )

    assert state(session) == ("present", "present", "manual")


@pytest.mark.parametrize("moment", [T0, T0 + timedelta(minutes=1), END + timedelta(days=1)])
def test_report_is_too_late_at_and_after_the_start(session, parent, moment):
    with pytest.raises(DomainError) as error:
        absence_report(session=session, parent=parent, reason="Dentist", now=moment)
    assert error.value.code == "too_late"
    assert "has started" in error.value.message
    assert not AttendanceChange.objects.exists()


@pytest.mark.parametrize("moment", [T0, END + timedelta(minutes=1)])
def test_withdraw_is_too_late_at_and_after_the_start(session, parent, moment):
    absence_report(session=session, parent=parent, reason="Dentist", now=BEFORE)

    with pytest.raises(DomainError) as error:
        absence_withdraw(session=session, parent=parent, now=moment)

    assert error.value.code == "too_late"
    assert state(session) == ("present", "excused", "parent_reported")
    assert AttendanceChange.objects.count() == 1


def test_a_parent_cannot_override_the_tutors_mark(session, parent, tutor):
    attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="present", now=T0)
    # The session was then moved to later: it has not started, but the tutor's mark stands.
    TutoringSession.objects.filter(pk=session.pk).update(
        scheduled_start=T0 + timedelta(days=1), scheduled_end=END + timedelta(days=1)
    )

    with pytest.raises(DomainError) as error:
        absence_report(session=session, parent=parent, reason="Dentist", now=T0 + timedelta(hours=2))

    assert error.value.code == "already_marked"
    assert "tutor has already marked" in error.value.message
    assert state(session) == ("present", "present", "manual")


def test_a_parent_cannot_override_an_admin(session, parent, staff):
    attendance_mark_by_hand(
        session=session,
        by=staff,
        tutor_status=None,
        student_status="present",
        notes="Agreed with the family",
        now=BEFORE,
    )

    with pytest.raises(DomainError) as error:
        absence_report(session=session, parent=parent, reason="Dentist", now=BEFORE)

    assert error.value.code == "admin_override_locked"
    assert state(session) == ("present", "present", "admin_override")


def test_a_parent_cannot_withdraw_a_mark_that_is_not_a_report(session, parent):
    with pytest.raises(DomainError) as error:
        absence_withdraw(session=session, parent=parent, now=BEFORE)
    assert error.value.code == "not_reported"


def test_reporting_twice_is_refused(session, parent):
    absence_report(session=session, parent=parent, reason="Dentist", now=BEFORE)
    with pytest.raises(DomainError) as error:
        absence_report(session=session, parent=parent, reason="Again", now=BEFORE)
    assert error.value.code == "already_reported"
    assert AttendanceChange.objects.count() == 1


def test_the_other_parent_may_withdraw_a_report(session, parent, student):
    father = UserFactory(username="paul_parent")
    GuardianFactory(user=father, children=[student])
    absence_report(session=session, parent=parent, reason="Dentist", now=BEFORE)

    absence_withdraw(session=session, parent=father, now=BEFORE)

    assert state(session) == ("present", "present", "system_default")


@pytest.mark.parametrize("who", ["other_parent", "tutor", "student", "other_tutor", "staff"])
def test_only_the_childs_parent_may_report_or_withdraw(session, parent, request, who):
    user = request.getfixturevalue(who)
    with pytest.raises(DomainError) as error:
        absence_report(session=session, parent=user, reason="Dentist", now=BEFORE)
    assert error.value.code == "not_found"

    absence_report(session=session, parent=parent, reason="Dentist", now=BEFORE)
    with pytest.raises(DomainError) as error:
        absence_withdraw(session=session, parent=user, now=BEFORE)
    assert error.value.code == "not_found"
    assert state(session) == ("present", "excused", "parent_reported")


def test_a_parent_reports_for_each_of_their_children(session, parent, other_student, tutor):
    GuardianFactory(user=parent, children=[other_student])
    sister = TutoringSessionFactory(tutor=tutor, student=other_student, scheduled_start=T0, scheduled_end=END)

    absence_report(session=session, parent=parent, reason="Family trip", now=BEFORE)
    absence_report(session=sister, parent=parent, reason="Family trip", now=BEFORE)

    assert state(session)[1:] == state(sister)[1:] == ("excused", "parent_reported")


def test_tutors_and_admins_cannot_use_the_parents_sources(session, tutor, staff):
    from attendance.services import attendance_mark

    for user in (tutor, staff):
        for source in (AttendanceSource.PARENT_REPORTED, AttendanceSource.SYSTEM_DEFAULT):
            with pytest.raises(DomainError) as error:
                attendance_mark(session=session, by=user, source=source, student_status="excused", now=END)
            assert error.value.code == "not_found"
