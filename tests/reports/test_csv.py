"""CSV export: a year of sessions, streamed in a bounded number of queries, in the business's time zone."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext

from attendance.models import TutoringSession
from tests.factories import TutoringSessionFactory, UserFactory, WhiteboardSessionFactory
from whiteboard.models import WhiteboardSession

pytestmark = pytest.mark.django_db

URL = "/reports/attendance.csv"
YEAR = {"date_from": "2025-07-01", "date_to": "2026-06-30"}
HEADER = [
    "Session",
    "Title",
    "Date (Europe/London)",
    "Start (Europe/London)",
    "End (Europe/London)",
    "Tutor",
    "Student",
    "Tutor attendance",
    "Student attendance",
    "Source",
    "Marked by",
    "Marked at (Europe/London)",
    "Notes",
    "Whiteboard",
    "Tutor first joined (Europe/London)",
    "Tutor last seen (Europe/London)",
    "Tutor active minutes",
    "Tutor reconnects",
    "Student first joined (Europe/London)",
    "Student last seen (Europe/London)",
    "Student active minutes",
    "Student reconnects",
    "Billing outcome",
]


@pytest.fixture(autouse=True)
def _london(settings):
    settings.TIME_ZONE = "Europe/London"


def browser(user):
    client = Client()
    client.force_login(user)
    return client


def download(client, params):
    """GET the CSV and read every streamed chunk, counting the queries of both."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL, params)
        body = b"".join(response.streaming_content) if response.status_code == 200 else b""
    return response, body.decode("utf-8-sig"), len(queries)


def rows_of(body: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body)))


def bulk_year(tutor, students, n, *, start=datetime(2025, 7, 1, 15, 0, tzinfo=UTC)):
    """n sessions spread over the year from `start`, each on its own whiteboard, made in a few bulk inserts."""
    step = timedelta(days=364) / n  # all inside the year, whatever the time of day
    boards = WhiteboardSession.objects.bulk_create(
        [
            WhiteboardSession(
                student_connected_at=start + step * i + timedelta(minutes=3),
                student_last_activity_at=start + step * i + timedelta(minutes=50),
                student_total_active_seconds=47 * 60,
                student_presence_spans=[{"start": "x", "end": "x", "hidden": []}],
            )
            for i in range(n)
        ],
        batch_size=500,
    )
    TutoringSession.objects.bulk_create(
        [
            TutoringSession(
                tutor=tutor,
                student=students[i % len(students)],
                title=f"Lesson {i}",
                scheduled_start=start + step * i,
                scheduled_end=start + step * i + timedelta(minutes=50),
                whiteboard=board,
            )
            for i, board in enumerate(boards)
        ],
        batch_size=500,
    )


def test_a_year_of_sessions_streams_in_a_bounded_number_of_queries(staff, tutor):
    students = [UserFactory() for _ in range(5)]
    bulk_year(tutor, students, 3)
    response, body, few_queries = download(browser(staff), YEAR)
    assert isinstance(response, StreamingHttpResponse)
    assert len(rows_of(body)) == 1 + 3

    TutoringSession.objects.all().delete()
    bulk_year(tutor, students, 2000)
    response, body, queries = download(browser(staff), YEAR)

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="attendance-2025-07-01-to-2026-06-30.csv"'
    rows = rows_of(body)
    assert rows[0] == HEADER
    assert len(rows) == 1 + 2000
    assert rows[1][1] == "Lesson 0"
    assert rows[-1][1] == "Lesson 1999"
    # The whole year costs what three sessions cost: the rows come through one chunked query.
    assert queries == few_queries
    assert queries <= 8


def test_times_are_in_the_business_time_zone(staff, tutor, student):
    # 23:30 UTC on 30 June is 00:30 on 1 July in London (BST).
    start = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)
    board = WhiteboardSessionFactory(
        student_connected_at=start + timedelta(minutes=2, seconds=5),
        student_last_activity_at=start + timedelta(minutes=55),
        student_total_active_seconds=3150,  # 52.5 min
        student_presence_spans=[{"start": "a", "end": "b", "hidden": []}] * 3,  # two reconnects
        tutor_connected_at=start - timedelta(minutes=1),
        tutor_last_activity_at=start + timedelta(hours=1),
        tutor_total_active_seconds=3600,
        tutor_presence_spans=[{"start": "a", "end": "b", "hidden": []}],
    )
    TutoringSessionFactory(
        tutor=tutor,
        student=student,
        scheduled_start=start,
        scheduled_end=start + timedelta(hours=1),
        whiteboard=board,
        student_attendance_status="left_early",
        attendance_source="manual",
        attendance_marked_by=tutor,
        attendance_marked_at=start + timedelta(hours=2),
    )
    # A winter session: London is on UTC then.
    winter = datetime(2026, 1, 15, 16, 0, tzinfo=UTC)
    TutoringSessionFactory(
        tutor=tutor,
        student=student,
        scheduled_start=winter,
        scheduled_end=winter + timedelta(minutes=45),
        whiteboard=None,
    )

    _, body, _ = download(browser(staff), {"date_from": "2026-01-01", "date_to": "2026-07-31"})
    rows = [dict(zip(HEADER, row, strict=True)) for row in rows_of(body)[1:]]

    assert len(rows) == 2
    winter_row, summer_row = rows
    assert (winter_row["Date (Europe/London)"], winter_row["Start (Europe/London)"]) == ("2026-01-15", "16:00")
    assert winter_row["Whiteboard"] == "no"
    assert winter_row["Student first joined (Europe/London)"] == ""
    assert summer_row["Date (Europe/London)"] == "2026-07-01"
    assert summer_row["Start (Europe/London)"] == "00:30"
    assert summer_row["End (Europe/London)"] == "01:30"
    assert summer_row["Marked at (Europe/London)"] == "2026-07-01 02:30:00"
    assert summer_row["Marked by"] == "Tina " + tutor.last_name
    assert summer_row["Student attendance"] == "Left early"
    assert summer_row["Source"] == "Marked by the tutor"
    assert summer_row["Student first joined (Europe/London)"] == "2026-07-01 00:32:05"
    assert summer_row["Student last seen (Europe/London)"] == "2026-07-01 01:25:00"
    assert summer_row["Student active minutes"] == "52.5"
    assert summer_row["Student reconnects"] == "2"
    assert summer_row["Tutor first joined (Europe/London)"] == "2026-07-01 00:29:00"
    assert summer_row["Tutor reconnects"] == "0"


def test_text_cannot_run_as_a_spreadsheet_formula(staff, tutor):
    mallory = UserFactory(username="mallory", first_name="@SUM(A1:A9)", last_name="")
    TutoringSessionFactory(
        tutor=tutor,
        student=mallory,
        title='=HYPERLINK("http://evil.example","click")',
        scheduled_start=datetime(2026, 3, 10, 14, tzinfo=UTC),
        scheduled_end=datetime(2026, 3, 10, 15, tzinfo=UTC),
        attendance_notes="+1 for effort",
        whiteboard=None,
    )
    TutoringSessionFactory(
        tutor=tutor,
        student=mallory,
        title="-2+3",
        attendance_notes="plain note, = inside is fine",
        scheduled_start=datetime(2026, 3, 11, 14, tzinfo=UTC),
        scheduled_end=datetime(2026, 3, 11, 15, tzinfo=UTC),
    )

    _, body, _ = download(browser(staff), {"date_from": "2026-03-01", "date_to": "2026-03-31"})
    rows = [dict(zip(HEADER, row, strict=True)) for row in rows_of(body)[1:]]

    assert rows[0]["Title"] == '\'=HYPERLINK("http://evil.example","click")'
    assert rows[0]["Student"] == "'@SUM(A1:A9)"
    assert rows[0]["Notes"] == "'+1 for effort"
    assert rows[1]["Title"] == "'-2+3"
    assert rows[1]["Notes"] == "plain note, = inside is fine"


def test_filters_apply_and_a_tutor_exports_only_their_own(tutor, other_tutor, student, other_student):
    march = datetime(2026, 3, 10, 14, tzinfo=UTC)
    for i, (who, pupil) in enumerate([(tutor, student), (tutor, other_student), (other_tutor, student)]):
        TutoringSessionFactory(
            tutor=who,
            student=pupil,
            title=f"S{i}",
            scheduled_start=march + timedelta(days=i),
            scheduled_end=march + timedelta(days=i, hours=1),
        )
    params = {"date_from": "2026-03-01", "date_to": "2026-03-31"}

    _, body, _ = download(browser(tutor), params)
    assert [row[1] for row in rows_of(body)[1:]] == ["S0", "S1"]
    _, body, _ = download(browser(tutor), {**params, "student": other_student.pk})
    assert [row[1] for row in rows_of(body)[1:]] == ["S1"]
    _, body, _ = download(browser(other_tutor), params)
    assert [row[1] for row in rows_of(body)[1:]] == ["S2"]
    assert browser(student).get(URL, params).status_code == 404


def test_the_report_page_links_to_the_csv_with_its_filters(staff, tutor, student):
    TutoringSessionFactory(
        tutor=tutor,
        student=student,
        scheduled_start=datetime(2026, 3, 10, 14, tzinfo=UTC),
        scheduled_end=datetime(2026, 3, 10, 15, tzinfo=UTC),
    )
    html = browser(staff).get("/reports/", {"date_from": "2026-03-01", "date_to": "2026-03-31", "status": "present"})
    assert 'href="/reports/attendance.csv?date_from=2026-03-01&amp;date_to=2026-03-31&amp;status=present"' in (
        html.content.decode()
    )


@pytest.mark.postgres  # the fast path is PostgreSQL's
def test_a_live_session_exports_the_heartbeats_the_fast_path_has_not_folded_yet(staff, session):
    from tests.conftest import T0
    from tests.whiteboard.helpers import presence_trace

    # 20 minutes of heartbeats, tab still open: the whiteboard row itself still says "last seen at T0".
    presence_trace(session.whiteboard, session.student, T0, T0 + timedelta(minutes=20), disconnect=False)
    session.whiteboard.refresh_from_db()
    assert session.whiteboard.student_last_activity_at == T0

    _, body, _ = download(browser(staff), {"date_from": "2026-03-01", "date_to": "2026-03-31"})
    (row,) = [dict(zip(HEADER, row, strict=True)) for row in rows_of(body)[1:]]
    assert row["Student last seen (Europe/London)"] == "2026-03-10 14:20:00"
    assert row["Student active minutes"] == "20.0"
    assert row["Student reconnects"] == "0"
