"""Billing outcomes: one pure rule (`attendance.billing`), its README table, and the decisions that lead to each."""

import re
from datetime import timedelta
from pathlib import Path

import pytest

from attendance import statuses as s
from attendance.billing import billing_outcome, billing_table, session_billing
from attendance.scheduling import session_cancel
from attendance.services import attendance_mark_by_hand
from families.services import absence_report
from tests.conftest import T0
from tests.factories import GuardianFactory, TutoringSessionFactory, UserFactory

NOTICE = timedelta(hours=24)


def end_of(session):
    return session.scheduled_end


README = Path(__file__).resolve().parents[2] / "README.md"


def outcome(tutor, student, source, *, before_start=None):
    decided = None if before_start is None else T0 - before_start
    return billing_outcome(
        tutor_status=tutor,
        student_status=student,
        source=source,
        decided_at=decided,
        scheduled_start=T0,
        notice=NOTICE,
    )


@pytest.mark.parametrize(
    "tutor, student, source, before_start, expected",
    [
        ("present", "present", "manual", timedelta(hours=-1), "delivered"),
        ("present", "present", "system_default", None, "delivered"),  # assumed, undecided
        ("late", "left_early", "whiteboard_auto", timedelta(hours=-1), "delivered"),
        ("present", "absent", "whiteboard_auto", timedelta(hours=-1), "student_no_show"),
        ("absent", "absent", "manual", timedelta(hours=-1), "tutor_no_show"),  # the tutor's absence decides
        ("absent", "present", "admin_override", timedelta(hours=-1), "tutor_no_show"),
        # A parent's report: in time with the full notice, late a second under it.
        ("present", "excused", "parent_reported", NOTICE, "cancelled_in_time"),
        ("present", "excused", "parent_reported", NOTICE - timedelta(seconds=1), "late_cancellation"),
        # Excused by the tutor or an admin: never charged.
        ("present", "excused", "manual", timedelta(hours=-2), "cancelled_in_time"),
        ("present", "excused", "admin_override", timedelta(hours=-2), "cancelled_in_time"),
        # The tutor cancels: in time, or their own late outcome; an admin excusing the tutor is in time.
        ("excused", "excused", "manual", NOTICE, "cancelled_in_time"),
        ("excused", "excused", "manual", timedelta(hours=2), "tutor_late_cancellation"),
        ("excused", "present", "manual", timedelta(hours=-2), "tutor_late_cancellation"),
        ("excused", "absent", "admin_override", timedelta(hours=-2), "cancelled_in_time"),
    ],
)
def test_the_rule(tutor, student, source, before_start, expected):
    assert outcome(tutor, student, source, before_start=before_start).outcome == expected


def test_only_the_familys_outcomes_are_chargeable():
    chargeable = {
        o.outcome: o.chargeable
        for o in (
            outcome("present", "present", "manual"),
            outcome("present", "absent", "manual"),
            outcome("absent", "present", "manual"),
            outcome("present", "excused", "parent_reported"),
            outcome("present", "excused", "manual"),
            outcome("excused", "excused", "manual"),
        )
    }
    assert chargeable == {
        "delivered": True,
        "student_no_show": True,
        "late_cancellation": True,
        "tutor_no_show": False,
        "cancelled_in_time": False,
        "tutor_late_cancellation": False,
    }
    assert set(chargeable) == set(s.BILLING_OUTCOMES)


def test_a_delivered_session_says_who_was_late_or_left_early():
    assert outcome("present", "present", "manual").flags == ()
    assert outcome("late", "left_early", "manual").flags == ("tutor_late", "student_left_early")


def test_the_readme_table_is_the_functions_output():
    text = README.read_text()
    found = re.search(r"<!-- billing-table -->\n(.*?)\n<!-- /billing-table -->", text, re.S)
    assert found, "README.md needs the billing table between <!-- billing-table --> markers"
    assert found.group(1) == billing_table(), (
        "regenerate: python -c 'from attendance.billing import *; print(billing_table())'"
    )


def test_the_table_covers_every_combination_of_statuses_and_source():
    covered = set()
    for line in billing_table().splitlines()[2:]:
        tutors, students, *cells = (cell.strip() for cell in line.strip("|").split("|"))
        assert len(cells) == len(s.SOURCES)
        expand = lambda names: s.STATUSES if names == "any" else names.split(", ")  # noqa: E731
        covered |= {(t, st) for t in expand(tutors) for st in expand(students)}
    assert covered == {(t, st) for t in s.STATUSES for st in s.STATUSES}


# --- from the decisions people make --------------------------------------------------


@pytest.fixture
def parent(student):
    user = UserFactory(username="pam_parent")
    GuardianFactory(user=user, children=[student])
    return user


@pytest.mark.django_db
@pytest.mark.parametrize("hours_before, expected", [(48, "cancelled_in_time"), (3, "late_cancellation")])
def test_a_parents_report_is_a_late_cancellation_under_the_notice(session, parent, clock, hours_before, expected):
    clock.at(T0 - timedelta(hours=hours_before))
    absence_report(session=session, parent=parent, reason="Dentist")
    reported = TutoringSessionFactory._meta.model.objects.get(pk=session.pk)
    assert session_billing(reported, now=clock.now).outcome == expected


@pytest.mark.django_db
@pytest.mark.parametrize("hours_before, expected", [(30, "cancelled_in_time"), (2, "tutor_late_cancellation")])
def test_a_tutors_cancellation_under_the_notice_is_their_own_outcome(session, tutor, clock, hours_before, expected):
    clock.at(T0 - timedelta(hours=hours_before))
    cancelled = session_cancel(session=session, by=tutor, reason="Ill")
    assert session_billing(cancelled, now=clock.now).outcome == expected


@pytest.mark.django_db
def test_the_notice_is_a_setting(session, tutor, clock, settings):
    settings.BILLING_CANCELLATION_NOTICE_HOURS = 48
    clock.at(T0 - timedelta(hours=30))
    cancelled = session_cancel(session=session, by=tutor, reason="Ill")
    assert session_billing(cancelled, now=clock.now).outcome == "tutor_late_cancellation"


@pytest.mark.django_db
def test_a_session_without_a_whiteboard_follows_the_same_rule_from_its_marks(tutor, student, clock):
    on_board = TutoringSessionFactory(tutor=tutor, student=student, scheduled_start=T0)
    in_person = TutoringSessionFactory(tutor=tutor, student=student, scheduled_start=T0, whiteboard=None)
    clock.at(T0 + timedelta(hours=2))
    for session in (on_board, in_person):
        marked = attendance_mark_by_hand(session=session, by=tutor, tutor_status="present", student_status="absent")
        assert session_billing(marked, now=clock.now).outcome == "student_no_show"


@pytest.mark.django_db
def test_nothing_to_bill_before_the_end_unless_something_was_decided(session, clock):
    clock.at(end_of(session) - timedelta(seconds=1))
    assert session_billing(session, now=clock.now) is None
    clock.at(end_of(session))
    assert session_billing(session, now=clock.now).outcome == "delivered"  # assumed, as decided by nobody
