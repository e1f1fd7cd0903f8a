"""Django's PostgreSQL backend, whose connection pool checks a connection it hands out more cheaply.

ENGINE "core.postgresql" when the pool is on (config/settings.py, DB_POOL_SIZE); otherwise Django's own.
"""

import select

import psycopg
from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool


def check_pooled_connection(conn: psycopg.Connection) -> None:
    """Raise if `conn` is unusable; a round trip only when something says it may be.

    Django's own check (CONN_HEALTH_CHECKS with a pool) sends an empty query on every checkout: one more
    round trip for each request, and for each database call of a socket, a third of the database
    threads' time in a reconnect storm (bench/ws_bench.py). An idle connection has nothing to read; when
    the server ends it (a restart, an idle timeout, a terminated backend) it sends a message and closes,
    and the socket becomes readable. So the round trip is made only then, or for a connection already
    known closed: what Django's check would find is found, and a dead connection is still replaced
    before the request uses it. A server gone silently (no message at all) is found by the request's
    own first query, as it would be a moment after any check.
    """
    if conn.closed:
        raise psycopg.OperationalError("the connection is closed")
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        ConnectionPool.check_connection(conn)


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self):
        pool = super().pool
        # Django makes the pool with psycopg_pool's own check (CONN_HEALTH_CHECKS) and takes no other; the
        # pool keeps it in `_check`, read at each checkout (tests/test_db_pool_check.py would notice a change).
        if pool is not None and pool._check is not None:
            pool._check = check_pooled_connection
        return pool
