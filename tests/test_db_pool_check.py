"""The pool's check of a connection it hands out (core.db): a round trip only when the connection looks ended."""

import select
import time

import psycopg
import pytest
from django.db import connection
from psycopg_pool import ConnectionPool

from core.db import check_pooled_connection

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
