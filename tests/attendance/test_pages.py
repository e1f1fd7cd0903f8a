"""Tutor dashboard, session page and student page (issue #4), with Django's test client."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Profile
from attendance.models import AttendanceChange
from attendance.services import attendance_mark_by_hand
from tests.conftest import T0
from tests.factories import TutoringSessionFactory, UserFactory
from tests.whiteboard.helpers import presence_trace

pytestmark = pytest.mark.django_db

END = T0 + timedelta(hours=1)


def browser(user):
    client = Client()
    client.force_login(user)
    return client


def test_anonymous_is_sent_to_sign_in(session):
    response = Client().get("/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")
    assert Client().get(f"/sessions/{session.pk}/").status_code == 302


def test_dashboard_groups_sessions_and_flags_those_needing_a_decision(tutor, student, clock):
    ended = TutoringSessionFactory(
        tutor=tutor,
        student=student,
        title="Ended, unmarked",
        scheduled_start=T0 - timedelta(days=1),
        scheduled_end=END - timedelta(days=1),
    )
    marked = TutoringSessionFactory(
        tutor=tutor,
        student=student,
        title="Ended, marked",
        scheduled_start=T0 - timedelta(days=2),
        scheduled_end=END - timedelta(days=2),
    )
    attendance_mark_by_hand(
        session=marked, by=tutor, tutor_status=None, student_status="late", notes="", now=END - timedelta(days=2)
    )
    TutoringSessionFactory(
        tutor=tutor,
        student=student,
        title="Later today",
        scheduled_start=T0 + timedelta(hours=3),
        scheduled_end=END + timedelta(hours=3),
    )
    TutoringSessionFactory(
        tutor=tutor,
        student=student,
        title="Next week",
        scheduled_start=T0 + timedelta(days=7),
        scheduled_end=END + timedelta(days=7),
    )
    clock.at(T0)
    page = browser(tutor).get("/")
    groups = page.context["groups"]
    assert [c["session"].title for c in groups["needs_decision"]] == ["Ended, unmarked"]
    assert [c["session"].title for c in groups["today"]] == ["Later today"]
    assert [c["session"].title for c in groups["upcoming"]] == ["Next week"]
    assert [c["session"].title for c in groups["past"]] == ["Ended, marked"]
    html = page.content.decode()
    assert "Needs your decision" in html
    assert ended.title in html


def test_a_running_undecided_card_shows_presence_so_far_not_an_assumed_status(tutor, student, session, clock):
    presence_trace(session.whiteboard, student, T0, T0 + timedelta(minutes=10), disconnect=False)
    clock.at(T0 + timedelta(minutes=10, seconds=5))
    html = browser(tutor).get("/").content.decode()
    assert 'data-testid="in-progress"' in html
    assert "On the whiteboard</span>" in html
    assert "Not joined yet</span>" in html  # the tutor
    assert ">assumed<" not in html
    clock.at(T0 + timedelta(minutes=20))  # the student's tab went silent: gone since its last signal
    html = browser(tutor).get("/").content.decode()
    assert "Left at 14:10</span>" in html
    assert "On the whiteboard</span>" not in html


def test_an_ended_undecided_card_says_where_the_status_came_from(tutor, student, session, clock):
    clock.at(END + timedelta(minutes=1))
    assert ">assumed<" in browser(tutor).get("/").content.decode()


def test_dashboard_query_count_does_not_grow_with_sessions(tutor, clock):
    clock.at(T0)

    def count_queries():
        client = browser(tutor)
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/").status_code == 200
        return len(queries)

    def add_sessions(n, offset):
        for i in range(n):
            student = UserFactory()
            # All running now, each with a live connection: their cards show presence so far.
            start = T0 - timedelta(minutes=(offset + i) % 10)
            session = TutoringSessionFactory(
                tutor=tutor, student=student, scheduled_start=start, scheduled_end=start + timedelta(minutes=50)
            )
            presence_trace(session.whiteboard, student, T0 - timedelta(minutes=1), T0, disconnect=False)

    add_sessions(2, 0)
    few = count_queries()
    add_sessions(25, 10)
    assert count_queries() == few


def test_student_sees_their_sessions_with_a_join_button_and_no_marking(student, session, clock):
    clock.at(T0 - timedelta(minutes=5))
    page = browser(student).get("/")
    assert page.templates[0].name == "attendance/student_home.html"
    html = page.content.decode()
    assert "Join whiteboard" in html
    assert f"/whiteboard/{session.whiteboard_id}/" in html
    assert browser(student).get(f"/sessions/{session.pk}/").status_code == 404


def test_session_page_is_for_its_tutor_and_staff_only(tutor, other_tutor, other_student, staff, session):
    assert browser(tutor).get(f"/sessions/{session.pk}/").status_code == 200
    assert browser(staff).get(f"/sessions/{session.pk}/").status_code == 200
    assert browser(other_tutor).get(f"/sessions/{session.pk}/").status_code == 404
    assert browser(other_student).get(f"/sessions/{session.pk}/").status_code == 404
    assert (
        browser(other_tutor)
        .post(f"/sessions/{session.pk}/mark", {"tutor_status": "present", "student_status": "absent"})
        .status_code
        == 404
    )


def test_session_page_shows_timeline_suggestion_and_reasons(tutor, student, session, clock):
    presence_trace(session.whiteboard, tutor, T0, END)
    presence_trace(session.whiteboard, student, T0 + timedelta(minutes=12), END)
    clock.at(END + timedelta(minutes=1))
    html = browser(tutor).get(f"/sessions/{session.pk}/").content.decode()
    assert 'data-testid="timeline"' in html
    assert html.count('class="timeline__span"') == 2
    assert "joined 12 min after the start" in html
    assert "Accept suggestion" in html


def test_manual_mark_from_the_page_uses_the_service(tutor, session, clock):
    clock.at(END + timedelta(minutes=2))
    response = browser(tutor).post(
        f"/sessions/{session.pk}/mark",
        {"tutor_status": "present", "student_status": "absent", "notes": "Did not show up"},
    )
    assert response.status_code == 302
    session.refresh_from_db()
    assert (session.student_attendance_status, session.attendance_source) == ("absent", "manual")
    assert AttendanceChange.objects.get().notes == "Did not show up"


def test_bad_manual_mark_is_a_form_error_and_changes_nothing(tutor, session, clock):
    clock.at(END)
    response = browser(tutor).post(
        f"/sessions/{session.pk}/mark", {"tutor_status": "present", "student_status": "vanished"}
    )
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    session.refresh_from_db()
    assert session.attendance_source == "system_default"


def test_rule_violation_is_shown_as_a_form_error(tutor, session, clock):
    clock.at(T0 - timedelta(hours=1))
    response = browser(tutor).post(
        f"/sessions/{session.pk}/mark", {"tutor_status": "present", "student_status": "absent"}
    )
    assert response.status_code == 400
    assert "has not started yet" in response.content.decode()
    assert not AttendanceChange.objects.exists()


def test_accept_suggestion_from_the_page(tutor, student, session, clock):
    presence_trace(session.whiteboard, tutor, T0, END)
    presence_trace(session.whiteboard, student, T0 + timedelta(minutes=12), END)
    clock.at(END + timedelta(minutes=1))
    response = browser(tutor).post(f"/sessions/{session.pk}/accept", {"notes": ""})
    assert response.status_code == 302
    session.refresh_from_db()
    assert (session.student_attendance_status, session.attendance_source) == ("late", "whiteboard_auto")


def test_times_are_shown_in_the_viewers_zone_with_the_zone_named(tutor, session):
    Profile.objects.update_or_create(user=tutor, defaults={"time_zone": "America/New_York"})
    html = browser(tutor).get(f"/sessions/{session.pk}/").content.decode()
    # T0 is 14:00 UTC = 10:00 in New York (EDT on 10 March 2026).
    assert "10:00" in html and "EDT" in html
