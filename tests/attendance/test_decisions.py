"""One rule for "waiting for a decision": the dashboard, the digest, the page and admin read the marking window.

Issue 12 (and issue 15's first point): the dashboard listed every unmarked ended session of the
last 30 days under "Needs your decision", while the service refuses tutors' marks 7 days after
the end, so the buttons of older ones answered 400.
"""

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from attendance.models import AttendanceChange
from attendance.services import attendance_mark_by_hand
from core.errors import DomainError
from families.tasks import decision_digest_task
from tests.conftest import T0
from tests.factories import TutoringSessionFactory

pytestmark = pytest.mark.django_db

LENGTH = timedelta(hours=1)


def browser(user):
    client = Client()
    client.force_login(user)
    return client


def ended(tutor, student, ago: timedelta, title: str):
    """A session of the tutor that ended `ago` before T0 and nobody marked."""
    end = T0 - ago
    return TutoringSessionFactory(
        tutor=tutor, student=student, title=title, scheduled_start=end - LENGTH, scheduled_end=end
    )


def titles(cards) -> list[str]:
    return [card["session"].title for card in cards]


def test_the_dashboard_lists_under_needs_decision_only_what_the_tutor_can_still_mark(tutor, student, clock):
    ended(tutor, student, timedelta(days=1), "Yesterday")
    ended(tutor, student, timedelta(days=10), "Ten days ago")
    clock.at(T0)

    page = browser(tutor).get("/")

    groups = page.context["groups"]
    assert titles(groups["needs_decision"]) == ["Yesterday"]
    assert titles(groups["closed_without_decision"]) == ["Ten days ago"]
    assert "Ten days ago" not in titles(groups["past"])
    html = page.content.decode()
    needs = html[html.index('data-testid="needs-decision"') : html.index('data-testid="today"')]
    assert "Yesterday" in needs and "Ten days ago" not in needs
    closed = html[html.index('data-testid="closed-without-decision"') :]
    assert "Closed without a decision" in closed and "Ten days ago" in closed
    assert "only an admin can change them now" in closed


@pytest.mark.parametrize(
    "ago",
    [
        timedelta(minutes=1),
        timedelta(days=7),  # the last moment of the window: still open
        timedelta(days=7, seconds=1),
        timedelta(days=10),
        timedelta(days=29),
    ],
)
def test_a_session_needs_a_decision_exactly_when_the_tutor_s_mark_is_accepted(tutor, student, clock, ago):
    session = ended(tutor, student, ago, "Unmarked")
    clock.at(T0)
    listed = titles(browser(tutor).get("/").context["groups"]["needs_decision"]) == ["Unmarked"]

    try:
        attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="absent", now=T0)
    except DomainError as error:
        assert error.code == "marking_window_closed"
        accepted = False
    else:
        accepted = True

    assert listed == accepted


def test_the_digest_and_the_dashboard_list_the_same_sessions(tutor, student, clock, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    for days in (1, 3, 6, 8, 12, 20):
        ended(tutor, student, timedelta(days=days), f"{days} days ago")
    clock.at(T0)

    needs = titles(browser(tutor).get("/").context["groups"]["needs_decision"])
    report = decision_digest_task()  # at T0 (the clock); without a broker it sends in-process

    assert needs == ["6 days ago", "3 days ago", "1 days ago"]
    assert report["queued"] == [(tutor.username, len(needs))]
    (digest,) = mail.outbox
    assert all(title in digest.body for title in needs)
    assert "8 days ago" not in digest.body


def test_a_closed_session_s_page_offers_no_form_and_says_why(tutor, student, staff, clock):
    session = ended(tutor, student, timedelta(days=10), "Ten days ago")
    clock.at(T0)

    html = browser(tutor).get(f"/sessions/{session.pk}/").content.decode()

    assert 'data-testid="mark-form"' not in html
    assert 'data-testid="accept-form"' not in html
    assert "Attendance can be marked until 7 days after the session; ask an admin to change it." in html
    # An admin still overrides at any time.
    assert 'data-testid="mark-form"' in browser(staff).get(f"/sessions/{session.pk}/").content.decode()


def test_a_session_that_has_not_started_offers_no_mark_form(tutor, session, clock):
    clock.at(T0 - timedelta(hours=1))

    html = browser(tutor).get(f"/sessions/{session.pk}/").content.decode()

    assert 'data-testid="mark-form"' not in html
    assert "The session has not started yet; attendance can be marked from its start." in html
    # The refused POST changes nothing, as before.
    browser(tutor).post(f"/sessions/{session.pk}/mark", {"tutor_status": "present", "student_status": "absent"})
    assert not AttendanceChange.objects.exists()


def test_admin_filters_sessions_waiting_for_the_tutor_and_those_closed_without_a_decision(tutor, student, staff, clock):
    recent = ended(tutor, student, timedelta(days=2), "Two days ago")
    old = ended(tutor, student, timedelta(days=9), "Nine days ago")
    clock.at(T0)
    changelist = reverse("admin:attendance_tutoringsession_changelist")

    def listed(decision: str) -> set[int]:
        response = browser(staff).get(changelist, {"decision": decision})
        assert response.status_code == 200
        return {row.pk for row in response.context["cl"].result_list}

    assert listed("waiting") == {recent.pk}
    assert listed("closed") == {old.pk}
