"""Notices about runs of absences, lateness and tutor no-shows (issue 19): once per streak and recipient."""

from datetime import timedelta

import pytest
from django.core import mail

from attendance.models import AttendanceStreak
from families.services import streak_notify
from families.tasks import notifications_queue
from tests.conftest import T0
from tests.factories import TutoringSessionFactory, UserFactory

pytestmark = pytest.mark.django_db


def make_streak(kind, person, session):
    return AttendanceStreak.objects.create(
        key=f"{kind}:{person.pk}:{session.pk}",
        kind=kind,
        person=person,
        first_session=session,
        last_session=session,
        length=3,
        opened_at=T0,
    )


@pytest.fixture
def office(db):
    return UserFactory(username="office", is_staff=True, email="office@example.com")


def test_a_second_call_sends_nothing(session, student, parent, office):
    streak = make_streak("student_absences", student, session)
    notifications_queue(made := streak_notify(streak=streak))
    assert len(made) == 2  # the office and Pam
    notifications_queue(again := streak_notify(streak=streak))
    assert again == []
    assert len(mail.outbox) == 2
    to_parent = next(m for m in mail.outbox if m.to == [parent.email])
    assert "Absent 3 times in a row" in to_parent.subject
    assert "/family/" in to_parent.body


def test_admins_without_an_address_or_inactive_are_skipped(session, student, office):
    UserFactory(username="old_office", is_staff=True, is_active=False, email="old@example.com")
    UserFactory(username="no_mail_office", is_staff=True, email="")
    notifications_queue(streak_notify(streak=make_streak("student_lateness", student, session)))
    assert [m.to for m in mail.outbox] == [["office@example.com"]]
    assert "/reports/streaks/" in mail.outbox[0].body


def test_a_tutor_no_show_is_for_admins_only(session, tutor, parent, office):
    later = TutoringSessionFactory(
        tutor=tutor,
        student=session.student,
        scheduled_start=T0 + timedelta(days=1),
        scheduled_end=T0 + timedelta(days=1, hours=1),
    )
    notifications_queue(streak_notify(streak=make_streak("tutor_no_shows", tutor, later)))
    assert [m.to for m in mail.outbox] == [["office@example.com"]]
