"""Presence under real concurrency: two tabs beating at once, two sweeps racing. Needs PostgreSQL row locks."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection

from tests.conftest import T0
from tests.factories import TutoringSessionFactory, UserFactory
from whiteboard.models import Connection, WhiteboardSession
from whiteboard.selectors import presence_snapshot
from whiteboard.services import presence_connect, presence_heartbeat, presence_sweep

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BEATS = 50
INTERVAL = 15
OFFSET = 7  # tab B runs 7 s behind tab A


def in_threads(*jobs) -> list:
    """Run the jobs in threads started together; return their results, re-raise the first failure."""
    start = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(index, job):
        try:
            start.wait()
            results[index] = job()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()  # each thread has its own connection; leave none open behind

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return results


def two_tabs_open():
    """A one-hour session whose student has opened tab A at T0 and tab B OFFSET seconds later."""
    session = TutoringSessionFactory(scheduled_start=T0, scheduled_end=T0 + timedelta(hours=1))
    wb, student = session.whiteboard, session.student
    tab_a, tab_b = uuid.uuid4(), uuid.uuid4()
    presence_connect(whiteboard_id=wb.pk, user=student, connection_id=tab_a, now=T0)
    presence_connect(whiteboard_id=wb.pk, user=student, connection_id=tab_b, now=T0 + timedelta(seconds=OFFSET))
    return wb, student, tab_a, tab_b


def test_two_tabs_beating_at_once_count_the_union_of_their_time_and_lose_nothing():
    wb, student, tab_a, tab_b = two_tabs_open()
    # Both tabs send beat k together, so the server sees each pair at once and in either order.
    rounds = threading.Barrier(2)

    def beats(connection_id, offset):
        def job():
            for k in range(1, BEATS + 1):
                rounds.wait()
                presence_heartbeat(
                    whiteboard_id=wb.pk,
                    user=student,
                    connection_id=connection_id,
                    visibility="visible",
                    now=T0 + timedelta(seconds=INTERVAL * k + offset),
                )

        return job

    in_threads(beats(tab_a, 0), beats(tab_b, OFFSET))

    wb = WhiteboardSession.objects.get(pk=wb.pk)
    last_signal = T0 + timedelta(seconds=INTERVAL * BEATS + OFFSET)
    status = presence_snapshot(whiteboard=wb, now=last_signal)["student"]
    assert status.total_active_seconds == (last_signal - T0).total_seconds()
    assert status.last_activity_at == last_signal
    assert status.connected_at == T0
    assert status.disconnected_at is None
    assert status.open_connections == 2
    assert len(status.spans) == 1
    assert [(e["event"], e["connection_id"]) for e in wb.connection_logs] == [
        ("connect", str(tab_a)),
        ("connect", str(tab_b)),
    ]
    signals = dict(Connection.objects.values_list("connection_id", "last_signal_at"))
    assert signals == {tab_a: T0 + timedelta(seconds=INTERVAL * BEATS), tab_b: last_signal}
    assert not Connection.objects.filter(closed_at__isnull=False).exists()

    # Under the lock the sweep folds the fast beats into the row first, then closes both tabs.
    assert presence_sweep(now=last_signal + timedelta(minutes=5)) == 2
    wb = WhiteboardSession.objects.get(pk=wb.pk)
    assert wb.student_total_active_seconds == (last_signal - T0).total_seconds()
    assert wb.student_last_activity_at == wb.student_disconnected_at == last_signal
    assert len(wb.student_presence_spans) == 1


def test_fast_beats_racing_locked_visibility_changes_lose_nothing():
    """Tab A beats on the fast path while tab B flips visible/hidden (its hidden beats take the locked path)."""
    wb, student, tab_a, tab_b = two_tabs_open()
    rounds = threading.Barrier(2)

    def beats(connection_id, offset, visibility_of):
        def job():
            for k in range(1, BEATS + 1):
                rounds.wait()
                presence_heartbeat(
                    whiteboard_id=wb.pk,
                    user=student,
                    connection_id=connection_id,
                    visibility=visibility_of(k),
                    now=T0 + timedelta(seconds=INTERVAL * k + offset),
                )

        return job

    in_threads(
        beats(tab_a, 0, lambda k: "visible"),
        beats(tab_b, OFFSET, lambda k: "hidden" if k % 2 else "visible"),
    )

    last_signal = T0 + timedelta(seconds=INTERVAL * BEATS + OFFSET)
    status = presence_snapshot(whiteboard=WhiteboardSession.objects.get(pk=wb.pk), now=last_signal)["student"]
    # Tab A was visible and alive throughout: all of it is visible presence, one span.
    assert (status.total_active_seconds, status.hidden_seconds) == ((last_signal - T0).total_seconds(), 0)
    assert status.last_activity_at == last_signal
    assert len(status.spans) == 1
    assert presence_sweep(now=last_signal + timedelta(minutes=5)) == 2
    wb = WhiteboardSession.objects.get(pk=wb.pk)
    assert (wb.student_total_active_seconds, wb.student_hidden_seconds) == ((last_signal - T0).total_seconds(), 0)
    assert wb.student_last_activity_at == wb.student_disconnected_at == last_signal
    assert [e["event"] for e in wb.connection_logs] == ["connect", "connect", "timeout", "timeout"]


def test_two_sweeps_at_once_log_exactly_one_timeout_per_stale_connection():
    whiteboards = []
    for _ in range(6):
        session = TutoringSessionFactory(
            tutor=UserFactory(), student=UserFactory(), scheduled_start=T0, scheduled_end=T0 + timedelta(hours=1)
        )
        for user in (session.tutor, session.student):
            connection_id = uuid.uuid4()
            presence_connect(whiteboard_id=session.whiteboard.pk, user=user, connection_id=connection_id, now=T0)
            presence_heartbeat(
                whiteboard_id=session.whiteboard.pk,
                user=user,
                connection_id=connection_id,
                visibility="visible",
                now=T0 + timedelta(seconds=INTERVAL),
            )
        whiteboards.append(session.whiteboard)
    # One connection still alive at sweep time: it must be left alone.
    alive = TutoringSessionFactory(scheduled_start=T0, scheduled_end=T0 + timedelta(hours=1))
    presence_connect(whiteboard_id=alive.whiteboard.pk, user=alive.student, now=T0 + timedelta(minutes=10))
    sweep_at = T0 + timedelta(minutes=10, seconds=30)

    closed = in_threads(*[lambda: presence_sweep(now=sweep_at)] * 2)

    assert sum(closed) == 12
    for wb in WhiteboardSession.objects.filter(pk__in=[w.pk for w in whiteboards]):
        timeouts = [e for e in wb.connection_logs if e["event"] == "timeout"]
        assert sorted(e["role"] for e in timeouts) == ["student", "tutor"]
        assert all(e["at"] == sweep_at.isoformat() for e in timeouts)
        assert wb.tutor_disconnected_at == wb.student_disconnected_at == T0 + timedelta(seconds=INTERVAL)
        assert wb.student_total_active_seconds == wb.tutor_total_active_seconds == INTERVAL
    assert Connection.objects.filter(close_reason="timeout").count() == 12
    assert Connection.objects.get(whiteboard=alive.whiteboard).closed_at is None
    assert [e["event"] for e in WhiteboardSession.objects.get(pk=alive.whiteboard.pk).connection_logs] == ["connect"]
