"""The heartbeat fast path changes no presence result: each trace, run once as it is and once with every
heartbeat forced through the locked path, gives the same status at every step, the same stored row and the
same connection log."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection as db

from attendance.services import participant_evidence
from tests.conftest import T0
from tests.factories import TutoringSessionFactory
from whiteboard import fastpath, selectors, services
from whiteboard.models import Connection, WhiteboardSession

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]  # the fast path is PostgreSQL's

A, B = "tab A", "tab B"


def steady(tab, start, end, *, every=15, visibility="visible"):
    return [(t, "beat", tab, visibility) for t in range(start + every, end + 1, every)]


TRACES = {
    "one visible tab, a network drop, a crash": [
        (0, "connect", A, "visible"),
        *steady(A, 0, 600),
        *[(t, "beat", A, "visible") for t in range(720, 1200, 15)],  # 2 min of silence: a new span
        (1800, "sweep", None, None),
    ],
    "two overlapping tabs, one closed": [
        (0, "connect", A, "visible"),
        *sorted([*steady(A, 0, 900), (307, "connect", B, "visible"), *steady(B, 307, 1500)], key=lambda e: e[0]),
        (905, "disconnect", A, None),
        (1510, "disconnect", B, None),
    ],
    "a background tab beating once a minute": [
        (0, "connect", A, "visible"),
        *steady(A, 0, 600),
        (605, "beat", A, "hidden"),
        *steady(A, 605, 2400, every=60, visibility="hidden"),
        (2460, "beat", A, "visible"),
        *steady(A, 2460, 3000),
        (3000, "disconnect", A, None),
    ],
    "a visible tab crashes next to a hidden one": [
        (0, "connect", A, "visible"),
        (5, "connect", B, "hidden"),
        *sorted(steady(A, 0, 300) + steady(B, 5, 1800, every=60, visibility="hidden"), key=lambda e: e[0]),
        (1900, "connect", A, "visible"),  # A comes back (a retried id of a timed-out tab: 409)
        (2000, "sweep", None, None),
    ],
    "a visible tab crashes next to another visible one": [
        (0, "connect", A, "visible"),
        (3, "connect", B, "visible"),
        *sorted(steady(A, 0, 300) + steady(B, 3, 900), key=lambda e: e[0]),
        (1000, "sweep", None, None),
    ],
    "hidden beats only, then a crash": [
        (0, "connect", A, "hidden"),
        *steady(A, 0, 900, every=60, visibility="hidden"),
        (1200, "sweep", None, None),
    ],
}


def replay(trace, session, ids):
    """Run the trace; the status (and the suggestion's evidence) after every step, the stored row at the end."""
    wb, user = session.whiteboard, session.student
    seen = []
    for seconds, action, tab, visibility in trace:
        now = T0 + timedelta(seconds=seconds)
        try:
            if action == "connect":
                services.presence_connect(
                    whiteboard_id=wb.pk, user=user, connection_id=ids[tab], visibility=visibility, now=now
                )
            elif action == "beat":
                services.presence_heartbeat(
                    whiteboard_id=wb.pk, user=user, connection_id=ids[tab], visibility=visibility, now=now
                )
            elif action == "disconnect":
                services.presence_disconnect(whiteboard_id=wb.pk, user=user, connection_id=ids[tab], now=now)
            else:
                services.presence_sweep(now=now)
            outcome = "ok"
        except services.DomainError as error:
            outcome = error.code
        wb = WhiteboardSession.objects.get(pk=wb.pk)
        seen.append((seconds, action, outcome, selectors.presence_snapshot(whiteboard=wb, now=now)["student"]))
        session.refresh_from_db()
        seen.append(participant_evidence(session, now=now)["student"])
    stored = {f: getattr(wb, f"student_{f}") for f in services._Participant.FIELDS}
    connections = sorted(
        Connection.objects.filter(whiteboard=wb).values_list("last_signal_at", "closed_at", "close_reason")
    )
    return seen, stored, wb.connection_logs, connections


@pytest.mark.parametrize("name", TRACES)
def test_the_fast_path_gives_the_same_presence_as_the_locked_path(name, monkeypatch, tutor, student):
    trace = TRACES[name]
    ids = {A: uuid.uuid4(), B: uuid.uuid4()}  # the same ids on both whiteboards: the logs compare as they are
    fast_calls = []
    real_fast = fastpath.fast_heartbeat

    def counting(**kwargs):
        hits, role = real_fast(**kwargs)
        fast_calls.append(role)
        return hits, role

    monkeypatch.setattr(fastpath, "fast_heartbeat", counting)
    fast = replay(trace, new_session(tutor, student), ids)
    monkeypatch.setattr(fastpath, "fast_heartbeat", lambda **kwargs: (None, None))  # nothing counted or done
    locked = replay(trace, new_session(tutor, student), ids)

    assert any(fast_calls), "the trace never took the fast path"
    fast_seen, locked_seen = fast[0], locked[0]
    for step, (mine, theirs) in enumerate(zip(fast_seen, locked_seen, strict=True)):
        if isinstance(mine, tuple):
            mine, theirs = (*mine[:3], _without_user(mine[3])), (*theirs[:3], _without_user(theirs[3]))
        assert mine == theirs, f"step {step}"
    assert fast[1:] == locked[1:]


def new_session(tutor, student):
    return TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=T0, scheduled_end=T0 + timedelta(hours=1)
    )


def _without_user(status):
    return {k: v for k, v in vars(status).items() if k != "user_id"}


def _steady_beats(session, count: int) -> None:
    wb, user, connection_id = session.whiteboard, session.student, uuid.uuid4()
    services.presence_connect(whiteboard_id=wb.pk, user=user, connection_id=connection_id, now=T0)
    for n in range(1, count + 1):
        now = T0 + timedelta(seconds=15 * n)
        services.presence_heartbeat(
            whiteboard_id=wb.pk, user=user, connection_id=connection_id, visibility="visible", now=now
        )


def test_the_fast_statement_is_prepared_on_the_connection(tutor, student):
    _steady_beats(TutoringSessionFactory(tutor=tutor, student=student), 8)  # past psycopg's prepare_threshold
    with db.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [statement for (statement,) in cursor.fetchall()]
    assert any("UPDATE whiteboard_connections SET last_signal_at" in s for s in prepared), prepared


def test_steady_heartbeats_rewrite_their_row_in_place_without_touching_an_index(tutor, student):
    """HOT updates: no index holds a column a heartbeat writes (migration 0002)."""

    def updates():
        with db.cursor() as cursor:  # this transaction's own counts
            cursor.execute(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'whiteboard_connections'"
            )
            return cursor.fetchone() or (0, 0)

    session = TutoringSessionFactory(tutor=tutor, student=student)
    before = updates()
    _steady_beats(session, 10)
    updated, hot = (after - prior for after, prior in zip(updates(), before, strict=True))
    assert updated >= 10
    assert hot == updated


def _synchronous_commit() -> str:
    with db.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_an_asynchronous_heartbeat_commit_stays_with_its_own_statement(tutor, student):
    """Nothing after the steady beat (here the next query on the connection) commits without its flush."""
    assert _synchronous_commit() == "on"
    _steady_beats(TutoringSessionFactory(tutor=tutor, student=student), 3)
    assert _synchronous_commit() == "on"


def test_a_callers_transaction_never_commits_asynchronously(tutor, student):
    """Inside atomic() (every test here runs in one) the beat must not turn the whole transaction asynchronous."""
    _steady_beats(TutoringSessionFactory(tutor=tutor, student=student), 3)
    assert _synchronous_commit() == "on"


def test_the_fast_statement_in_its_own_transaction_sets_asynchronous_commit_for_that_transaction(tutor, student):
    """What the statement does to the transaction it runs in, seen from inside (a caller's block is skipped above)."""
    session = TutoringSessionFactory(tutor=tutor, student=student)
    connection_id = uuid.uuid4()
    services.presence_connect(whiteboard_id=session.whiteboard_id, user=student, connection_id=connection_id, now=T0)
    sql = fastpath._fast_heartbeat_sql(counted=False, asynchronous=True)
    beat_at, since = T0 + timedelta(seconds=15), T0 + timedelta(seconds=15)
    params = [beat_at, T0 + timedelta(seconds=60), session.whiteboard_id, connection_id, student.pk, since, "visible"]
    with db.cursor() as cursor:
        cursor.execute(sql, [*params, beat_at])
        assert cursor.fetchall() == [(None, "student")]
    assert _synchronous_commit() == "off"
