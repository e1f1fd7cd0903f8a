"""`GET /api/sessions`: visibility, filters, keyset pages that survive changes, the optional suggestion."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from attendance.services import attendance_mark_by_hand
from tests.conftest import T0
from tests.factories import GuardianFactory, TutoringSessionFactory, UserFactory
from tests.whiteboard.helpers import presence_trace

pytestmark = pytest.mark.django_db

END = T0 + timedelta(hours=1)
URL = "/api/sessions"


def ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def everything(client, **params):
    """Follow `next` to the end; the ids in order."""
    response = client.get(URL, params)
    seen = ids(response)
    while response.json()["next"]:
        response = client.get(response.json()["next"])
        seen += ids(response)
    return seen


@pytest.fixture
def week(tutor, student, other_tutor, other_student, clock):
    """Tina's and Otto's sessions over a week (created under the test clock, at T0 - 30 min)."""
    sessions = []
    for day in range(5):
        start = T0 + timedelta(days=day)
        sessions.append(
            TutoringSessionFactory(
                tutor=tutor, student=student, scheduled_start=start, scheduled_end=start + timedelta(hours=1)
            )
        )
        sessions.append(
            TutoringSessionFactory(
                tutor=other_tutor,
                student=other_student,
                scheduled_start=start,
                scheduled_end=start + timedelta(hours=1),
            )
        )
    return sessions


def test_each_sees_their_own_and_staff_see_all(api, week, tutor, student, other_tutor, staff):
    tinas = [s.pk for s in week if s.tutor_id == tutor.pk]
    assert ids(api(tutor).get(URL)) == tinas
    assert ids(api(student).get(URL)) == tinas
    assert ids(api(other_tutor).get(URL)) == [s.pk for s in week if s.tutor_id == other_tutor.pk]
    assert ids(api(staff).get(URL)) == [s.pk for s in week]
    assert api(None).get(URL).status_code == 401


def test_a_parent_lists_nothing_through_the_api(api, week, student):
    parent = UserFactory(username="pam_parent")
    GuardianFactory(user=parent, children=[student])
    assert ids(api(parent).get(URL)) == []


def test_students_do_not_read_the_tutors_notes_or_the_suggestion(api, session, tutor, student, clock):
    clock.at(END + timedelta(minutes=5))
    attendance_mark_by_hand(session=session, by=tutor, tutor_status="present", student_status="late", notes="chatty")
    row = api(student).get(URL, {"include": "suggestion"}).json()["results"][0]
    assert row["attendance_notes"] is None and row["suggestion"] is None
    row = api(tutor).get(URL, {"include": "suggestion"}).json()["results"][0]
    assert row["attendance_notes"] == "chatty" and row["suggestion"]["final"] is True


def test_filters(api, week, staff, tutor, student, clock):
    clock.at(T0 + timedelta(days=6))
    first = week[0]
    attendance_mark_by_hand(session=first, by=tutor, tutor_status="present", student_status="absent")
    client = api(staff)
    assert ids(client.get(URL, {"tutor": tutor.pk})) == [s.pk for s in week if s.tutor_id == tutor.pk]
    assert ids(client.get(URL, {"student": student.pk})) == [s.pk for s in week if s.student_id == student.pk]
    window = {
        "starts_after": (T0 + timedelta(days=1)).isoformat(),
        "starts_before": (T0 + timedelta(days=3)).isoformat(),
    }
    assert ids(client.get(URL, window)) == [s.pk for s in week[2:6]]
    assert (
        ids(client.get(URL, {"starts_after": window["starts_before"], "starts_before": window["starts_after"]})) == []
    )
    assert ids(client.get(URL, {"student_status": "absent"})) == [first.pk]
    assert ids(client.get(URL, {"tutor_status": "absent"})) == []
    assert ids(client.get(URL, {"source": "manual"})) == [first.pk]
    assert ids(client.get(URL, {"source": "system_default", "tutor": tutor.pk})) == [s.pk for s in week[2::2]]


@pytest.mark.parametrize(
    "params",
    [
        {"tutor": "maria"},
        {"tutor": "0"},
        {"student": str(2**31)},
        {"tutor_status": "gone"},
        {"tutor_status": ""},
        {"tutor": ""},
        {"student_status": "PRESENT"},
        {"source": "robot"},
        {"changed_since": "yesterday"},
        {"starts_after": "2026-13-01T00:00:00Z"},
        {"include": "everything"},
        {"page_size": "0"},
        {"page_size": "201"},
        {"cursor": "not-a-cursor"},
        {"cursor": "eyJrIjoic2NoZWR1bGVkX3N0YXJ0IiwidiI6IngiLCJpZCI6MX0"},  # {"k": ..., "v": "x", "id": 1}
    ],
)
def test_a_bad_filter_value_is_a_400_in_json(api, staff, params):
    response = api(staff).get(URL, params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and body["errors"]


def test_a_cursor_of_the_schedule_order_is_refused_by_a_sync(api, week, staff):
    page = api(staff).get(URL, {"page_size": 2}).json()
    cursor = page["next"].split("cursor=")[1]
    response = api(staff).get(URL, {"changed_since": T0.isoformat(), "cursor": cursor})
    assert response.status_code == 400
    assert "cursor" in response.json()["errors"]


def test_pages_follow_the_schedule_and_end_with_null(api, week, staff):
    assert everything(api(staff), page_size=3) == [s.pk for s in week]
    assert api(staff).get(URL, {"page_size": 10}).json()["next"] is None


def test_rows_added_before_the_cursor_while_paging_do_not_shift_the_next_page(api, week, staff, tutor, student):
    client = api(staff)
    first = client.get(URL, {"page_size": 4}).json()
    # Two sessions earlier than anything listed: an offset-based page would now repeat two rows.
    for hours in (1, 2):
        TutoringSessionFactory(tutor=tutor, student=student, scheduled_start=T0 - timedelta(days=hours))
    second = client.get(first["next"]).json()
    assert [r["id"] for r in second["results"]] == [s.pk for s in week[4:8]]


def test_a_sync_sees_a_row_changed_while_paging_again_with_its_new_state(api, week, staff, tutor, clock):
    clock.at(T0 + timedelta(days=6))
    client = api(staff)
    since = (T0 - timedelta(days=1)).isoformat()
    first = client.get(URL, {"changed_since": since, "page_size": 4}).json()
    already_seen = first["results"][0]
    assert already_seen["id"] == week[0].pk
    clock.advance(60)
    attendance_mark_by_hand(session=week[0], by=tutor, tutor_status="present", student_status="absent")
    rest = []
    response = client.get(first["next"]).json()
    rest += response["results"]
    while response["next"]:
        response = client.get(response["next"]).json()
        rest += response["results"]
    assert [r["id"] for r in rest][-1] == week[0].pk  # moved to the end, with its latest state
    assert rest[-1]["student_attendance_status"] == "absent"
    assert {r["id"] for r in first["results"]} | {r["id"] for r in rest} == {s.pk for s in week}


def test_changed_since_lists_only_what_changed_oldest_change_first(api, week, staff, tutor, clock):
    clock.at(T0 + timedelta(days=6))
    attendance_mark_by_hand(session=week[4], by=tutor, tutor_status="present", student_status="late")
    clock.advance(10)
    attendance_mark_by_hand(session=week[2], by=tutor, tutor_status="present", student_status="absent")
    response = api(staff).get(URL, {"changed_since": (T0 + timedelta(days=6)).isoformat()})
    assert ids(response) == [week[4].pk, week[2].pk]
    rows = response.json()["results"]
    assert rows[0]["updated_at"] < rows[1]["updated_at"]


def test_each_row_carries_its_billing_outcome_lock_and_dispute_window(api, session, tutor, clock):
    clock.at(END + timedelta(minutes=5))
    attendance_mark_by_hand(session=session, by=tutor, tutor_status="present", student_status="absent")
    row = api(tutor).get(URL).json()["results"][0]
    assert row["billing"] == {"outcome": "student_no_show", "chargeable": True, "flags": []}
    assert row["locked"] is False and row["open_dispute"] is False
    assert row["dispute_open_until"].startswith((END + timedelta(minutes=5, hours=72)).strftime("%Y-%m-%dT%H:%M"))
    clock.at(END + timedelta(days=8))
    assert api(tutor).get(URL).json()["results"][0]["locked"] is True


def _queries(client, params):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(URL, params).status_code == 200
    return len(captured)


def test_the_suggestion_costs_the_same_queries_for_two_sessions_as_for_twenty(api, staff, tutor, student, clock):
    clock.at(T0 + timedelta(days=30))

    def add(n):
        for i in range(n):
            start = T0 + timedelta(days=i, hours=len(added))
            s = TutoringSessionFactory(
                tutor=tutor, student=student, scheduled_start=start, scheduled_end=start + timedelta(hours=1)
            )
            # One connection left open: the evidence a suggestion reads includes open connections.
            presence_trace(s.whiteboard, tutor, start, start, disconnect=False)
            added.append(s)

    added = []
    client = api(staff)
    add(2)
    few = _queries(client, {"include": "suggestion"})
    plain = _queries(client, {})
    add(18)
    many = _queries(client, {"include": "suggestion"})
    assert few == many
    # The whiteboards' open connections; the page's silences (outage gaps, whiteboard/outages.py); and, as
    # each lone connection here lapsed, who was heard just before those silences: one query each.
    assert few == plain + 3
    results = client.get(URL, {"include": "suggestion"}).json()["results"]
    assert len(results) == 20 and all(r["suggestion"]["final"] for r in results)
