"""Presence scenarios from issue #2, through the HTTP API, with server time controlled."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tests.conftest import T0
from tests.whiteboard.helpers import Tab, beat_until, status_of
from whiteboard.models import Connection, WhiteboardSession

pytestmark = pytest.mark.django_db

END = T0 + timedelta(hours=1)
INTERVAL = 15  # one heartbeat interval: the accuracy the issue asks for


def minutes(n):
    return timedelta(minutes=n)


@pytest.fixture
def wb(session):
    return session.whiteboard


@pytest.fixture
def student_tab(api, student, wb):
    return Tab(api(student), wb.pk)


@pytest.fixture
def tutor_tab(api, tutor, wb):
    return Tab(api(tutor), wb.pk)


def test_on_time_for_the_whole_session(clock, student_tab, api, tutor, wb):
    clock.at(T0 - minutes(1))
    response = student_tab.connect()
    assert response.status_code == 200
    assert response.json()["role"] == "student"
    assert response.json()["heartbeat_interval"] == 15
    beat_until(clock, student_tab, END)
    assert student_tab.disconnect().status_code == 200

    student = status_of(api(tutor), wb.pk)["student"]
    assert student["connected"] is False
    assert student["connected_at"] == (T0 - minutes(1)).isoformat().replace("+00:00", "Z")
    assert student["disconnected_at"] == END.isoformat().replace("+00:00", "Z")
    assert abs(student["total_active_seconds"] - 61 * 60) <= INTERVAL
    assert student["reconnects"] == 0
    assert student["hidden_seconds"] == 0


def test_twelve_minutes_late(clock, student_tab, api, tutor, wb):
    clock.at(T0 + minutes(12))
    student_tab.connect()
    beat_until(clock, student_tab, END)
    student_tab.disconnect()

    student = status_of(api(tutor), wb.pk)["student"]
    assert student["connected_at"].startswith("2026-03-10T14:12:00")
    assert abs(student["total_active_seconds"] - 48 * 60) <= INTERVAL


def test_never_connected(clock, tutor_tab, api, tutor, wb):
    clock.at(T0)
    tutor_tab.connect()
    beat_until(clock, tutor_tab, END)

    student = status_of(api(tutor), wb.pk)["student"]
    assert student == {
        **student,
        "connected": False,
        "connected_at": None,
        "disconnected_at": None,
        "last_activity_at": None,
        "total_active_seconds": 0,
        "open_connections": 0,
        "reconnects": 0,
    }


def test_left_twenty_minutes_early(clock, student_tab, api, tutor, wb):
    clock.at(T0)
    student_tab.connect()
    beat_until(clock, student_tab, END - minutes(20))
    student_tab.disconnect()
    clock.at(END)

    student = status_of(api(tutor), wb.pk)["student"]
    assert student["disconnected_at"].startswith("2026-03-10T14:40:00")
    assert abs(student["total_active_seconds"] - 40 * 60) <= INTERVAL


def test_two_minute_network_drop_counts_as_a_reconnect_and_not_as_presence(clock, student_tab, api, tutor, wb):
    clock.at(T0)
    student_tab.connect()
    beat_until(clock, student_tab, T0 + minutes(20))
    # The network drops for two minutes: nothing reaches the server.
    clock.advance(120)
    response = student_tab.beat()
    assert response.status_code == 409
    assert response.json()["code"] == "connection_closed"
    assert student_tab.reconnect().status_code == 200
    beat_until(clock, student_tab, END)
    student_tab.disconnect()

    student = status_of(api(tutor), wb.pk)["student"]
    assert student["reconnects"] == 1
    assert abs(student["total_active_seconds"] - 58 * 60) <= INTERVAL
    events = [e["event"] for e in WhiteboardSession.objects.get(pk=wb.pk).connection_logs]
    assert events == ["connect", "timeout", "connect", "disconnect"]


def test_crash_without_disconnect_stops_earning_at_last_signal(clock, student_tab, api, tutor, wb):
    clock.at(T0)
    student_tab.connect()
    beat_until(clock, student_tab, T0 + minutes(40))
    last_signal = clock.now

    # Within the timeout the student still counts as connected...
    clock.advance(40)
    assert status_of(api(tutor), wb.pk)["student"]["connected"] is True
    # ...after it, reads show them gone even before any sweep ran.
    clock.advance(10)
    student = status_of(api(tutor), wb.pk)["student"]
    assert student["connected"] is False
    assert student["open_connections"] == 0
    assert student["disconnected_at"] == last_signal.isoformat().replace("+00:00", "Z")
    assert abs(student["total_active_seconds"] - 40 * 60) <= INTERVAL

    clock.at(END)
    assert abs(status_of(api(tutor), wb.pk)["student"]["total_active_seconds"] - 40 * 60) <= INTERVAL


def test_sweep_logs_one_timeout_however_often_it_runs(clock, student_tab, wb):
    clock.at(T0)
    student_tab.connect()
    clock.advance(INTERVAL)
    student_tab.beat()
    clock.advance(300)
    call_command("sweep_connections", verbosity=0)
    call_command("sweep_connections", verbosity=0)

    wb.refresh_from_db()
    assert [e["event"] for e in wb.connection_logs] == ["connect", "timeout"]
    assert wb.connection_logs[1]["last_seen_at"] == (T0 + timedelta(seconds=INTERVAL)).isoformat()
    assert wb.student_disconnected_at == T0 + timedelta(seconds=INTERVAL)
    assert Connection.objects.get().close_reason == "timeout"


def test_two_overlapping_tabs_count_once_and_closing_one_keeps_the_student_connected(clock, api, student, tutor, wb):
    first, second = Tab(api(student), wb.pk), Tab(api(student), wb.pk)
    clock.at(T0)
    first.connect()
    clock.advance(7)
    second.connect()
    # Both tabs beat, offset by 7 s, for 30 minutes.
    for _ in range(120):
        clock.advance(8)
        assert first.beat().status_code == 200
        clock.advance(7)
        assert second.beat().status_code == 200
    assert second.disconnect().status_code == 200

    student = status_of(api(tutor), wb.pk)["student"]
    assert student["connected"] is True
    assert student["open_connections"] == 1
    assert student["disconnected_at"] is None

    beat_until(clock, first, END)
    first.disconnect()
    student = status_of(api(tutor), wb.pk)["student"]
    assert abs(student["total_active_seconds"] - 60 * 60) <= INTERVAL  # not 90 minutes
    assert student["reconnects"] == 0


def test_retried_heartbeats_add_nothing(clock, student_tab, api, tutor, wb):
    clock.at(T0)
    student_tab.connect()
    for _ in range(20):
        clock.advance(INTERVAL)
        assert student_tab.beat().status_code == 200
        assert student_tab.beat().status_code == 200  # the same request, retried at once
    retried = status_of(api(tutor), wb.pk)["student"]["total_active_seconds"]
    assert retried == 20 * INTERVAL


def test_retried_connect_is_harmless(clock, student_tab, wb):
    clock.at(T0)
    assert student_tab.connect().status_code == 200
    clock.advance(2)
    assert student_tab.connect().status_code == 200
    wb.refresh_from_db()
    assert [e["event"] for e in wb.connection_logs] == ["connect"]
    assert Connection.objects.count() == 1
    assert wb.student_total_active_seconds == 2


def test_background_tab_beating_once_a_minute_stays_present_and_counts_hidden_time(clock, student_tab, api, tutor, wb):
    clock.at(T0)
    student_tab.connect()
    beat_until(clock, student_tab, T0 + minutes(20))
    # The student switches tab: the client reports it at once, then the browser
    # throttles its timers to once a minute.
    clock.advance(5)
    assert student_tab.beat("hidden").status_code == 200
    beat_until(clock, student_tab, T0 + minutes(50), every=60, visibility="hidden")
    assert status_of(api(tutor), wb.pk)["student"]["connected"] is True
    clock.advance(100)  # a hidden tab is given 150 s, not 45
    assert status_of(api(tutor), wb.pk)["student"]["connected"] is True
    clock.at(T0 + minutes(51))
    student_tab.beat("visible")
    beat_until(clock, student_tab, END)
    student_tab.disconnect()

    student = status_of(api(tutor), wb.pk)["student"]
    assert student["reconnects"] == 0
    assert abs(student["total_active_seconds"] - 60 * 60) <= INTERVAL
    # Hidden from the first hidden beat's report onwards, until the tab came back.
    assert abs(student["hidden_seconds"] - 31 * 60) <= 60


def test_visible_tab_silent_past_45_seconds_is_gone(clock, student_tab, api, tutor, wb):
    clock.at(T0)
    student_tab.connect()
    clock.advance(46)
    assert status_of(api(tutor), wb.pk)["student"]["connected"] is False
    assert student_tab.beat().status_code == 409


TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "BEGIN", "COMMIT")


def _statements(queries) -> list[str]:
    # The test's own transaction turns atomic() into savepoints; in production they are BEGIN/COMMIT.
    return [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(TRANSACTION_CONTROL)]


@pytest.fixture
def quiet_client(student):
    client = APIClient()
    client.force_authenticate(student)  # authentication's own queries are not counted
    return client


@pytest.fixture
def quiet_tab(quiet_client, wb):
    return Tab(quiet_client, wb.pk)


def _steady(clock, tabs, wb):
    clock.at(T0)
    tabs[0].connect()
    beat_until(clock, tabs[0], T0 + minutes(1))
    clock.advance(INTERVAL)
    return tabs[0], "visible", 200


def _visibility_change(clock, tabs, wb):
    tab, _, _ = _steady(clock, tabs, wb)
    return tab, "hidden", 200


def _lapsed_sibling(clock, tabs, wb):
    clock.at(T0)
    tabs[1].connect()
    tabs[0].connect()
    beat_until(clock, tabs[0], T0 + timedelta(seconds=45))  # tab 1 silent: past its 45 s at the next beat
    clock.advance(INTERVAL)
    return tabs[0], "visible", 200


def _timed_out_with_a_lapsed_sibling(clock, tabs, wb):
    clock.at(T0)
    tabs[1].connect()
    tabs[0].connect()
    clock.advance(60)
    return tabs[0], "visible", 409


def _swept_before_it_beat(clock, tabs, wb):
    clock.at(T0)
    tabs[0].connect()
    clock.advance(60)
    call_command("sweep_connections")
    return tabs[0], "visible", 409


def _unknown_connection(clock, tabs, wb):
    clock.at(T0)
    tabs[0].connect()
    clock.advance(INTERVAL)
    return tabs[2], "visible", 404


BEATS = {
    "steady": _steady,
    "a visibility change": _visibility_change,
    "a sibling tab lapsed": _lapsed_sibling,
    "timed out, with a lapsed sibling": _timed_out_with_a_lapsed_sibling,
    "timed out and swept": _swept_before_it_beat,
    "an unknown connection": _unknown_connection,
}


@pytest.mark.parametrize("kind", BEATS)
def test_every_kind_of_heartbeat_costs_at_most_four_statements(kind, clock, quiet_client, wb):
    tabs = [Tab(quiet_client, wb.pk) for _ in range(3)]
    tab, visibility, expected_status = BEATS[kind](clock, tabs, wb)
    with CaptureQueriesContext(db_connection) as queries:
        assert tab.beat(visibility).status_code == expected_status
    statements = _statements(queries)
    assert len(statements) <= 4, statements


@pytest.mark.postgres
def test_a_steady_heartbeat_is_one_statement(clock, quiet_tab, wb):
    clock.at(T0)
    quiet_tab.connect()
    clock.advance(INTERVAL)
    with CaptureQueriesContext(db_connection) as queries:
        assert quiet_tab.beat().status_code == 200
    assert len(queries.captured_queries) == 1, queries.captured_queries  # not even a transaction
    (statement,) = [q["sql"] for q in queries.captured_queries]
    assert "INSERT INTO rate_counters" in statement  # the throttle's count...
    assert "UPDATE whiteboard_connections" in statement  # ...and the beat itself


@pytest.mark.postgres
def test_a_visibility_change_takes_the_locked_path_and_catches_up(clock, quiet_tab, api, tutor, wb):
    clock.at(T0)
    quiet_tab.connect()
    beat_until(clock, quiet_tab, T0 + minutes(2))  # fast path: the whiteboard row is not written
    wb.refresh_from_db()
    assert wb.student_last_activity_at == T0
    clock.advance(INTERVAL)
    with CaptureQueriesContext(db_connection) as queries:
        assert quiet_tab.beat("hidden").status_code == 200
    fast_attempt, *locked = _statements(queries)
    assert "UPDATE whiteboard_connections" in fast_attempt  # matched nothing: the visibility changed
    assert len(locked) == 3, locked  # whiteboard lock, connections, one write for both tables
    # Under the lock the fast beats were folded first, then the gap to this beat counted as before.
    wb.refresh_from_db()
    assert wb.student_last_activity_at == clock.now
    assert wb.student_total_active_seconds == 2 * 60 + INTERVAL
    assert wb.student_hidden_seconds == 0
    assert Connection.objects.get(connection_id=quiet_tab.connection_id).visibility == "hidden"
    beat_until(clock, quiet_tab, T0 + minutes(5), every=60, visibility="hidden")
    student = status_of(api(tutor), wb.pk)["student"]
    assert student["total_active_seconds"] == 4 * 60 + INTERVAL
    assert student["hidden_seconds"] == 4 * 60 + INTERVAL - (2 * 60 + INTERVAL)


@pytest.mark.postgres
def test_many_fast_heartbeats_show_the_same_status_as_the_locked_path_gave(clock, student_tab, api, tutor, wb):
    """The on-time scenario's figures, while the whiteboard row itself still says 'connected at T0 - 1 min'."""
    clock.at(T0 - minutes(1))
    student_tab.connect()
    beat_until(clock, student_tab, END)
    wb.refresh_from_db()
    assert (wb.student_last_activity_at, wb.student_total_active_seconds) == (T0 - minutes(1), 0)

    live = status_of(api(tutor), wb.pk)["student"]
    assert live["connected"] is True
    assert live["total_active_seconds"] == 61 * 60
    assert live["hidden_seconds"] == 0
    assert live["reconnects"] == 0
    assert live["last_activity_at"] == END.isoformat().replace("+00:00", "Z")

    assert student_tab.disconnect().status_code == 200
    wb.refresh_from_db()
    assert (wb.student_last_activity_at, wb.student_total_active_seconds) == (END, 61 * 60)
    assert wb.student_disconnected_at == END
    assert status_of(api(tutor), wb.pk)["student"] == {
        **live,
        "connected": False,
        "disconnected_at": live["last_activity_at"],
        "open_connections": 0,
        "visibility": None,
    }


def test_disconnect_is_idempotent(clock, student_tab, wb):
    clock.at(T0)
    student_tab.connect()
    clock.advance(10)
    first = student_tab.disconnect()
    clock.advance(10)
    second = student_tab.disconnect()
    assert first.status_code == second.status_code == 200
    assert second.json()["already_closed"] is True
    wb.refresh_from_db()
    assert [e["event"] for e in wb.connection_logs] == ["connect", "disconnect"]
    assert wb.student_total_active_seconds == 10


def test_tutor_and_student_are_tracked_separately(clock, tutor_tab, student_tab, api, tutor, wb):
    clock.at(T0)
    tutor_tab.connect()
    beat_until(clock, tutor_tab, T0 + minutes(5))
    student_tab.connect()
    clock.advance(INTERVAL)
    tutor_tab.beat()
    student_tab.beat()
    status = status_of(api(tutor), wb.pk)
    assert status["tutor"]["total_active_seconds"] == 300 + INTERVAL
    assert status["student"]["total_active_seconds"] == INTERVAL
    assert status["tutor"]["user_id"] == tutor.pk
