"""Alerts from patterns (issue 19): runs of absences, lateness and tutor no-shows, noticed once per run."""

from datetime import timedelta

import pytest
from django.core import mail

from attendance.models import AttendanceStreak
from attendance.services import attendance_mark_by_hand
from attendance.streaks import RULES, current_run
from families.models import SentNotification
from tests.conftest import T0
from tests.factories import GuardianFactory, TutoringSessionFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(db):
    return UserFactory(username="adam_office", is_staff=True, email="ada@example.com")


@pytest.fixture
def parent(student):
    user = UserFactory(username="pam_parent", email="pam@example.com")
    GuardianFactory(user=user, children=[student])
    return user


@pytest.fixture
def week(tutor, student):
    """Eight daily sessions of Tina with Sam, nobody has marked yet."""
    return [
        TutoringSessionFactory(
            tutor=tutor,
            student=student,
            scheduled_start=T0 + timedelta(days=d),
            scheduled_end=T0 + timedelta(days=d, hours=1),
        )
        for d in range(8)
    ]


@pytest.fixture
def mark(tutor, django_capture_on_commit_callbacks):
    """mark(session, student_status, tutor_status="present", by=tutor): through the service, commit callbacks run."""

    def do(session, student_status, tutor_status="present", by=None):
        by = by or tutor
        with django_capture_on_commit_callbacks(execute=True):
            attendance_mark_by_hand(
                session=session,
                by=by,
                tutor_status=tutor_status,
                student_status=student_status,
                notes="" if not by.is_staff else "checked",
                now=session.scheduled_end,
            )

    return do


def streaks(kind="student_absences"):
    return list(AttendanceStreak.objects.filter(kind=kind).order_by("id"))


def test_three_absences_in_a_row_open_one_streak(week, mark, admin_user, parent):
    mark(week[0], "absent")
    mark(week[1], "absent")
    assert streaks() == []
    mark(week[2], "absent")
    (streak,) = streaks()
    assert (streak.length, streak.first_session_id, streak.last_session_id, streak.closed_at) == (
        3,
        week[0].pk,
        week[2].pk,
        None,
    )
    assert sorted(m.to[0] for m in mail.outbox if "in a row" in m.subject) == ["ada@example.com", "pam@example.com"]


def test_the_streak_is_noticed_once_however_long_it_grows(week, mark, admin_user, parent):
    for session in week[:5]:
        mark(session, "absent")
    (streak,) = streaks()
    assert streak.length == 5
    assert SentNotification.objects.filter(kind="streak_alert").count() == 2  # admin and parent, once


def test_excused_sessions_neither_count_nor_break_a_streak(week, mark, staff, admin_user):
    mark(week[0], "absent")
    mark(week[1], "excused", by=staff)
    mark(week[2], "absent")
    assert streaks() == []  # two absences: the excused one did not count
    mark(week[3], "absent")
    (streak,) = streaks()
    assert (streak.length, streak.first_session_id) == (3, week[0].pk)  # ... nor break the run


def test_undecided_sessions_are_left_out(week, mark, admin_user):
    mark(week[0], "absent")
    mark(week[2], "absent")  # week[1] nobody marked: an assumed `present` says nothing
    mark(week[3], "absent")
    assert [s.length for s in streaks()] == [3]


def test_attending_closes_the_streak_and_a_new_run_is_a_new_streak(week, mark, admin_user, parent):
    for session in week[:3]:
        mark(session, "absent")
    mark(week[3], "present")
    (closed,) = streaks()
    assert closed.closed_at == week[3].scheduled_end
    for session in week[4:7]:
        mark(session, "absent")
    first, second = streaks()
    assert first.closed_at is not None
    assert second.first_session_id == week[4].pk and second.closed_at is None
    assert SentNotification.objects.filter(kind="streak_alert").count() == 4  # two recipients, two streaks


def test_correcting_an_absence_breaks_the_streak(week, mark, staff, admin_user):
    for session in week[:3]:
        mark(session, "absent")
    mark(week[1], "present", by=staff)
    (streak,) = streaks()
    assert streak.closed_at is not None


def test_lateness_in_a_row(week, mark, admin_user, parent):
    for session in week[:3]:
        mark(session, "late")
    (streak,) = streaks("student_lateness")
    assert streak.length == 3
    assert {m.to[0] for m in mail.outbox if "Late 3 times" in m.subject} == {"ada@example.com", "pam@example.com"}


def test_tutor_no_show_tells_admins_not_parents(week, mark, staff, admin_user, parent, tutor):
    mark(week[0], "present", tutor_status="absent", by=staff)
    (streak,) = streaks("tutor_no_shows")
    assert streak.person == tutor
    recipients = set(SentNotification.objects.filter(kind="streak_alert").values_list("email", flat=True))
    assert "pam@example.com" not in recipients
    assert "ada@example.com" in recipients


def test_a_parent_who_opted_out_gets_no_streak_mail(week, mark, admin_user, parent):
    parent.guardian.notify_absent_or_late = False
    parent.guardian.save()
    for session in week[:3]:
        mark(session, "absent")
    assert set(SentNotification.objects.filter(kind="streak_alert").values_list("email", flat=True)) == {
        "ada@example.com"
    }


def test_threshold_is_a_setting(week, mark, admin_user, settings):
    settings.ATTENDANCE_ALERTS = {**settings.ATTENDANCE_ALERTS, "absences_in_a_row": 2}
    mark(week[0], "absent")
    mark(week[1], "absent")
    assert [s.length for s in streaks()] == [2]


def test_current_run_is_oldest_first(week, mark):
    mark(week[0], "present")
    mark(week[1], "absent")
    mark(week[2], "absent")
    rule = next(r for r in RULES if r.kind == "student_absences")
    assert current_run(person_id=week[0].student_id, rule=rule) == [week[1].pk, week[2].pk]


def test_open_streaks_show_in_admin_on_the_person(week, mark, staff, student, client):
    for session in week[:3]:
        mark(session, "absent")
    client.force_login(staff)
    page = client.get(f"/admin/auth/user/{student.pk}/change/")
    assert page.status_code == 200
    assert b"Open attendance alerts" in page.content
    assert b"Student absent in a row" in page.content


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_marks_completing_a_run_open_it_once():
    """Two absences committed at the same moment complete a run of three: one streak, one notice each."""
    from tests.attendance.test_concurrency import run_together

    tutor, student = UserFactory(username="t_conc"), UserFactory(username="s_conc")
    UserFactory(username="office_conc", is_staff=True, email="office@example.com")
    sessions = [
        TutoringSessionFactory(
            tutor=tutor,
            student=student,
            scheduled_start=T0 + timedelta(days=d),
            scheduled_end=T0 + timedelta(days=d, hours=1),
        )
        for d in range(3)
    ]

    def absent(session):
        return lambda: attendance_mark_by_hand(
            session=session, by=tutor, tutor_status="present", student_status="absent", now=session.scheduled_end
        )

    absent(sessions[0])()
    run_together(absent(sessions[1]), absent(sessions[2]))
    (streak,) = AttendanceStreak.objects.all()
    assert (streak.length, streak.first_session_id) == (3, sessions[0].pk)
    assert list(SentNotification.objects.filter(kind="streak_alert").values_list("email", flat=True)) == [
        "office@example.com"
    ]
