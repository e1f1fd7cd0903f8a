"""The pool's check of a connection it hands out (core/postgresql/base.py): a round trip only when the connection looks ended."""

import select
import time

import psycopg
import pytest
from django.db import connection
from psycopg_pool import ConnectionPool

from core.postgresql.base import check_pooled_connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def other():
    """A connection of its own to the test database, as the pool would hold one."""
    params = connection.get_connection_params()
    conn = psycopg.connect(
        **{k: v for k, v in params.items() if k not in ("cursor_factory", "context")}, autocommit=True
    )
    yield conn
    conn.close()


@pytest.fixture
def round_trips(monkeypatch):
    made = []
    real = ConnectionPool.check_connection

    def counted(conn):
        made.append(conn)
        return real(conn)

    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(counted))
    return made


def test_a_healthy_idle_connection_is_handed_out_without_a_round_trip(other, round_trips):
    other.execute("SELECT 1")
    check_pooled_connection(other)
    assert round_trips == []


def test_a_connection_the_server_ended_is_found_before_use(other, round_trips):
    pid = other.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    # The server's goodbye reaches the socket a moment later (a real process: wait on the clock, briefly).
    deadline = time.monotonic() + 5
    while not select.select([other.fileno()], [], [], 0.05)[0] and time.monotonic() < deadline:
        pass
    with pytest.raises(psycopg.OperationalError):
        check_pooled_connection(other)
    assert round_trips == [other]


def test_a_closed_connection_is_refused(other, round_trips):
    other.close()
    with pytest.raises(psycopg.OperationalError):
        check_pooled_connection(other)


def test_the_pool_of_the_core_backend_replaces_a_connection_the_server_ended_before_a_query_uses_it():
    from core.postgresql.base import DatabaseWrapper

    settings_dict = {
        **connection.settings_dict,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {**connection.settings_dict["OPTIONS"], "pool": {"min_size": 1, "max_size": 1}},
    }
    pooled = DatabaseWrapper(settings_dict, alias="pool_check_test")
    try:
        assert pooled.pool._check is check_pooled_connection

        def backend_pid():
            with pooled.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid = cursor.fetchone()[0]
            pooled.close()  # back to the pool
            return pid

        first = backend_pid()
        assert backend_pid() == first  # the same pooled connection, handed out again
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [first])
            deadline = time.monotonic() + 5  # until the server has let it go (a real process)
            while time.monotonic() < deadline:
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [first])
                if cursor.fetchone()[0] == 0:
                    break
        assert backend_pid() != first  # replaced at checkout: the query never saw the dead one
    finally:
        pooled.close_pool()
