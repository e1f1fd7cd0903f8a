"""The report page: who may see it, filters and their errors, charts, a constant number of queries."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from families.models import Guardian
from tests.conftest import T0
from tests.factories import AttendanceChangeFactory, TutoringSessionFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/reports/"
MARCH = {"date_from": "2026-03-01", "date_to": "2026-03-31"}


def browser(user):
    client = Client()
    client.force_login(user)
    return client


def session_on(tutor, student, day, **fields):
    start = T0 + timedelta(days=day)
    return TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=start, scheduled_end=start + timedelta(hours=1), **fields
    )


@pytest.fixture
def parent(student):
    user = UserFactory(username="pat_parent")
    Guardian.objects.create(user=user).students.add(student)
    return user


@pytest.fixture
def sessions(tutor, student, other_tutor, other_student):
    return [
        session_on(tutor, student, 0, student_attendance_status="late"),
        session_on(tutor, student, 1, student_attendance_status="absent"),
        session_on(other_tutor, other_student, 2, tutor_attendance_status="late", title="Otto's class"),
    ]


def test_anonymous_is_sent_to_sign_in():
    response = Client().get(URL)
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


@pytest.mark.parametrize("url", [URL, URL + "attendance.csv"])
def test_students_and_parents_get_404(student, parent, sessions, url):
    assert browser(student).get(url).status_code == 404
    assert browser(parent).get(url).status_code == 404
    assert browser(UserFactory()).get(url).status_code == 404  # someone with no sessions at all


def test_staff_see_every_tutor(staff, tutor, other_tutor, sessions):
    response = browser(staff).get(URL, MARCH)
    assert response.status_code == 200
    report = response.context["report"]
    assert {row.person_id for row in report.by_tutor} == {tutor.pk, other_tutor.pk}
    assert report.totals.sessions == 3


def test_a_tutor_sees_only_their_own_row_and_students(tutor, other_tutor, student, other_student, sessions):
    response = browser(tutor).get(URL, MARCH)
    assert response.status_code == 200
    report = response.context["report"]
    assert [row.person_id for row in report.by_tutor] == [tutor.pk]
    assert [row.person_id for row in report.by_student] == [student.pk]
    assert report.totals.sessions == 2
    html = response.content.decode()
    assert other_student.username not in html
    assert other_tutor.username not in html
    assert 'name="tutor"' not in html  # no tutor menu: it is always their own report


def test_a_tutor_cannot_widen_the_report_through_the_query_string(tutor, other_tutor, other_student, sessions):
    # A tutor filter is not theirs to set: ignored, the report stays their own.
    response = browser(tutor).get(URL, {**MARCH, "tutor": other_tutor.pk})
    assert [row.person_id for row in response.context["report"].by_tutor] == [tutor.pk]
    # Another tutor's student is not a choice: a form error, no figures.
    response = browser(tutor).get(URL, {**MARCH, "student": other_student.pk})
    assert response.status_code == 400
    assert response.context["report"] is None
    assert "student" in response.context["form"].errors


def test_filters_narrow_the_report(staff, tutor, student, sessions):
    response = browser(staff).get(URL, {**MARCH, "tutor": tutor.pk, "status": "absent"})
    assert response.status_code == 200
    assert response.context["report"].totals.sessions == 1
    response = browser(staff).get(URL, {**MARCH, "student": student.pk, "source": "system_default"})
    assert response.context["report"].totals.sessions == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date_from": "yesterday"}, "date_from"),
        ({"date_from": "2026-02-30"}, "date_from"),
        ({"date_from": "2026-03-31", "date_to": "2026-03-01"}, "date_to"),
        ({"date_from": "2020-01-01", "date_to": "2026-03-01"}, "date_to"),  # longer than two years
        ({"date_from": "9999-12-31", "date_to": "9999-12-31"}, "date_from"),
        ({"date_from": "0001-01-01"}, "date_from"),
        ({"tutor": "abc"}, "tutor"),
        ({"tutor": "999999"}, "tutor"),
        ({"student": "-1"}, "student"),
        ({"status": "asleep"}, "status"),
        ({"source": "rumour"}, "source"),
    ],
)
def test_bad_filter_input_is_a_form_error_not_a_crash(staff, sessions, params, field):
    for url in (URL, URL + "attendance.csv"):
        response = browser(staff).get(url, params)
        assert response.status_code == 400
        assert field in response.context["form"].errors
        assert 'role="alert"' in response.content.decode()


def test_default_range_is_the_last_four_weeks_in_the_business_time_zone(staff, sessions, clock, settings):
    settings.TIME_ZONE = "Europe/London"
    # 23:30 UTC on 1 July is already 2 July in London (BST).
    clock.at(datetime(2026, 7, 1, 23, 30, tzinfo=UTC))
    filters = browser(staff).get(URL).context["report"].filters
    assert (filters.date_from, filters.date_to) == (date(2026, 6, 5), date(2026, 7, 2))
    assert (filters.date_to - filters.date_from).days + 1 == 28


def test_page_shows_figures_charts_and_their_numbers(staff, sessions):
    html = browser(staff).get(URL, MARCH).content.decode()
    # Charts are SVG drawn on the server, titled and described for screen readers.
    assert html.count('role="img"') == 2
    assert '<title id="weekly-title">' in html
    assert '<desc id="weekly-desc">' in html
    assert '<title id="mix-title">' in html
    assert 'data-testid="mix-table"' in html
    assert "Week of" in html  # per-column titles
    # Nothing fetched from elsewhere.
    assert "<script" not in html
    assert "https://" not in html
    # 3 sessions: one late, one absent, one present -> no-show rate 33%, attendance 2 of 3.
    assert 'data-testid="kpi-no-shows">33%<' in html
    assert 'data-testid="kpi-attendance">67%<' in html
    assert "first join on the whiteboard minus the scheduled start" in html


def test_empty_range_says_so(staff, sessions):
    response = browser(staff).get(URL, {"date_from": "2025-01-01", "date_to": "2025-01-31"})
    assert response.status_code == 200
    assert 'data-testid="no-sessions"' in response.content.decode()


def test_the_reports_link_shows_for_staff_and_tutors_only(staff, tutor, student, sessions):
    assert 'href="/reports/"' in browser(staff).get("/").content.decode()
    assert 'href="/reports/"' in browser(tutor).get("/").content.decode()
    assert 'href="/reports/"' not in browser(student).get("/").content.decode()


def _add_sessions(n, *, tutor=None):
    """n sessions, each with a new student (and a new tutor unless given) and a suggestion in the history."""
    for i in range(n):
        session = session_on(
            tutor or UserFactory(), UserFactory(), i % 20, student_attendance_status="late", attendance_source="manual"
        )
        AttendanceChangeFactory(
            session=session, suggestion={"tutor": {"status": "present"}, "student": {"status": "late"}}
        )


@pytest.mark.parametrize("who", ["staff", "tutor"])
def test_query_count_does_not_grow_with_sessions(request, who, tutor):
    user = request.getfixturevalue(who)

    def count_queries():
        client = browser(user)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(URL, MARCH)
        assert response.status_code == 200
        return len(queries), response.context["report"].totals.sessions

    _add_sessions(3, tutor=tutor)
    few, sessions = count_queries()
    assert sessions == 3
    _add_sessions(27, tutor=tutor)
    many, sessions = count_queries()
    assert sessions == 30
    assert many == few
    assert few <= 14
