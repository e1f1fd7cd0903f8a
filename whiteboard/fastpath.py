"""The heartbeat's hand-written SQL: the PostgreSQL fast path, the locked path's combined write, and
the presence sockets' batched liveness (`write_liveness`).

Raw SQL because the heartbeat is the request every participant sends every 15 s and the bench
showed the ORM's statements cost too much there (figures: README, "How a heartbeat stays cheap").
The rules stay in `whiteboard.services`: this module only sends what they decided, and
`tests/whiteboard/test_fast_path.py` holds every trace equal with and without the fast statement.
Why the fast path is safe, and what its asynchronous commit risks: docs/presence-fast-path.md.
"""

import functools
import uuid
from datetime import datetime

from django.conf import settings
from django.db import connection as db
from django.db import transaction
from django.db.models import Case, F, Value, When, sql

from accounts import ratelimit
from accounts.ratelimit import Rate
from whiteboard.models import Connection, WhiteboardSession
from whiteboard.presence import PresenceSettings

# Tables `whiteboard_connections` (Connection) and `sessions` (TutoringSession). PostgreSQL only:
# SQLite runs one writer at a time anyway, and there every heartbeat takes the locked path.
# When a beat applies without the locked path, for the connection row {c} at time {now} and a beat's
# {visibility}: open, alive, visibility unchanged, no other tab of the participant whose liveness ran
# out (the locked path times it out), not hidden beside a visible tab (the locked path counts hidden
# time), and the user still the session's participant in that role (else the locked path's 404).
# One text for the single beat (`fast_heartbeat`) and a node's batch of resuming sockets (`resume_alive`).
_BEAT_APPLIES = """
      {c}.closed_at IS NULL AND {c}.expires_at >= {now} AND {c}.visibility = {visibility}
      AND NOT EXISTS (
        SELECT 1 FROM whiteboard_connections other
        WHERE other.whiteboard_id = {c}.whiteboard_id
          AND other.role = {c}.role
          AND other.closed_at IS NULL AND other.id <> {c}.id
          AND (other.expires_at < {now}
            OR ({c}.visibility = 'hidden' AND other.visibility = 'visible')))
      AND EXISTS (
        SELECT 1 FROM sessions s WHERE s.whiteboard_id = {c}.whiteboard_id
          AND (({c}.role = 'tutor' AND s.tutor_id = {c}.user_id)
            OR ({c}.role = 'student' AND s.student_id = {c}.user_id
                AND s.tutor_id <> {c}.user_id)))
"""
_FAST_HEARTBEAT_UPDATE = """
    UPDATE whiteboard_connections SET last_signal_at = %s, expires_at = %s
    WHERE whiteboard_id = %s AND connection_id = %s AND user_id = %s AND""" + _BEAT_APPLIES.format(  # noqa: S608
    c="whiteboard_connections", now="%s", visibility="%s"
)
# Returned per updated row, so evaluated before the statement's own transaction commits: that commit
# then skips waiting for its WAL flush (`synchronous_commit` off for this transaction only).
_ASYNC_COMMIT = ", set_config('synchronous_commit', 'off', true)"


@functools.cache
def _fast_heartbeat_sql(*, counted: bool, asynchronous: bool) -> str:
    """The fast statement: optionally count the request against the user's rate first (the beat then
    applies only within the limit), then the UPDATE. Answers one row: (hits or NULL, role or NULL)."""
    # Only this module's constants are pieced together here; every value goes as a parameter.
    commit = _ASYNC_COMMIT if asynchronous else ""
    beat = f"{_FAST_HEARTBEAT_UPDATE} RETURNING role{commit}"
    if not counted:
        return f"WITH beat AS ({beat}) SELECT NULL, (SELECT role FROM beat)"  # noqa: S608
    within = f"{_FAST_HEARTBEAT_UPDATE} AND (SELECT hits FROM counted) <= %s RETURNING role{commit}"  # noqa: S608
    return (
        f"WITH counted AS ({ratelimit.COUNT_IN_DATABASE_SQL}), beat AS ({within}) "  # noqa: S608
        "SELECT (SELECT hits FROM counted), (SELECT role FROM beat)"
    )


def fast_heartbeat(
    *,
    whiteboard_id: int,
    user,
    connection_id: uuid.UUID,
    visibility: str,
    now: datetime,
    conf: PresenceSettings,
    rate: Rate | None,
) -> tuple[int | None, str | None]:
    """The common heartbeat in one statement: an open, alive connection whose visibility is unchanged.

    With a `rate`, the same statement first counts the request against the user's limit (in
    `rate_counters`: no round trip to the cache) and applies the beat only within it. Returns the
    hits counted in the window (None without a rate) and the role; None for the role when the
    beat was over the limit or needs the locked path, which decides it exactly as before: a
    closed, expired, unknown or someone else's connection; a visibility change; another tab of
    the participant whose liveness ran out; a hidden beat while the participant has a visible
    tab open; a user no longer part of the session (the EXISTS: the locked path's 404).

    Only the connection row moves; the whiteboard row catches up later (`presence.fold_tail`).
    Why no beat is lost or counted twice, and what asynchronous commit risks:
    docs/presence-fast-path.md.
    """
    # psycopg sends these as timestamptz, uuid and integers: no Django adaptation needed.
    params = [now, now + conf.timeout(visibility), whiteboard_id, connection_id, user.pk, now, visibility, now]
    if rate is not None:
        params = [rate.scope, user.pk, rate.window_id(now.timestamp()), *params, rate.limit]
    # Asynchronous commit for a heartbeat in its own transaction only, never for a caller's atomic() block.
    asynchronous = settings.PRESENCE["HEARTBEAT_ASYNC_COMMIT"] and not db.in_atomic_block
    with _prepared_cursor() as cursor:
        cursor.execute(_fast_heartbeat_sql(counted=rate is not None, asynchronous=asynchronous), params)
        hits, role = cursor.fetchone()
    return hits, role


def _prepared_cursor():
    """A cursor whose statements PostgreSQL prepares once per connection instead of planning on every call.

    Django's cursors bind parameters client-side, so nothing is ever prepared; planning the fast
    heartbeat's statement costs PostgreSQL several times what running it does. This is a
    server-binding psycopg cursor: psycopg prepares a statement once the connection has sent it
    `prepare_threshold` times (DATABASES OPTIONS, from `DB_PREPARE_THRESHOLD`). It is wrapped like
    any Django cursor, so its errors are Django's. While queries are logged (DEBUG, or a test
    counting them) Django's own cursor runs the statement instead: its log cannot show the text
    of a prepared statement.
    """
    from django.db.backends.postgresql.base import ServerBindingCursor

    if db.queries_logged:
        return db.cursor()
    db.close_if_health_check_failed()
    db.ensure_connection()
    with db.wrap_database_errors:
        cursor = ServerBindingCursor(db.connection)
    return db.make_cursor(cursor)


def store_heartbeat(
    whiteboard: WhiteboardSession,
    *,
    changed: set[str],
    timed_out: list[Connection],
    touched: Connection | None = None,
    inserted: Connection | None = None,
    now: datetime,
) -> None:
    """Write a locked heartbeat's or connect's decision: add the connection `inserted` (a connect), close
    `timed_out`, renew `touched`, save the `changed` columns.

    The connections take one UPDATE (CASE per row), a new one an INSERT, and the whiteboard row an
    UPDATE; on PostgreSQL they go as one statement (all but the last as data-modifying WITHs), which
    keeps a heartbeat within four statements even after the fast path's attempt (`fast_heartbeat`),
    and a connect within three (the lock, the connections, this).
    """
    statements = []
    if inserted is not None:
        statements.append(_insert_sql(inserted))
    values = {}
    if timed_out:
        closing = [c.pk for c in timed_out]
        values["closed_at"] = Case(When(pk__in=closing, then=Value(now)), default=F("closed_at"))
        values["close_reason"] = Case(
            When(pk__in=closing, then=Value(Connection.CloseReason.TIMEOUT.value)), default=F("close_reason")
        )
    if touched is not None:
        values["last_signal_at"] = Case(
            When(pk=touched.pk, then=Value(touched.last_signal_at)), default=F("last_signal_at")
        )
        values["visibility"] = Case(When(pk=touched.pk, then=Value(touched.visibility)), default=F("visibility"))
        values["expires_at"] = Case(When(pk=touched.pk, then=Value(touched.expires_at)), default=F("expires_at"))
    if values:
        ids = [c.pk for c in timed_out] + ([touched.pk] if touched is not None else [])
        statements.append(_update_sql(Connection.objects.filter(pk__in=ids), values))
    if changed:
        columns = {name: getattr(whiteboard, name) for name in sorted(changed)}
        statements.append(_update_sql(WhiteboardSession.objects.filter(pk=whiteboard.pk), columns))
    if db.vendor == "postgresql" and len(statements) > 1:
        *first, (last_sql, last_params) = statements
        written = ", ".join(f"written_{i} AS ({sql_text})" for i, (sql_text, _) in enumerate(first))
        params = tuple(p for _, ps in first for p in ps) + tuple(last_params)
        statements = [(f"WITH {written} {last_sql}", params)]
    with db.cursor() as cursor:
        for statement, params in statements:
            cursor.execute(statement, params)


def _insert_sql(instance) -> tuple[str, tuple]:
    """The SQL and parameters `instance.save(force_insert=True)` would send (no id read back: no one needs it)."""
    model = type(instance)
    query = sql.InsertQuery(model)
    query.insert_values([f for f in model._meta.local_concrete_fields if not f.primary_key], [instance])
    [(statement, params)] = query.get_compiler(using=db.alias).as_sql()
    return statement, tuple(params)


def _update_sql(queryset, values: dict) -> tuple[str, tuple]:
    """The SQL and parameters `queryset.update(**values)` would send, to send it as part of another statement."""
    query = queryset.query.chain(sql.UpdateQuery)
    query.add_update_values(values)
    compiler = query.get_compiler(queryset.db)
    compiler.pre_sql_setup()
    return compiler.as_sql()


def write_liveness(rows: list[tuple[int, datetime, datetime]]) -> None:
    """Move each connection's (pk) `last_signal_at` and `expires_at` forward, if still open: a node's
    batch of socket pings (`whiteboard.sockets.presence_liveness_write` decides which).

    PostgreSQL: one UPDATE joined to the batch passed as three arrays (a CASE per row, as
    `store_heartbeat` builds, costs seconds at 500 rows). Elsewhere (SQLite, development) one small
    UPDATE per row.
    """
    if db.vendor == "postgresql":
        with db.cursor() as cursor:
            cursor.execute(
                "UPDATE whiteboard_connections c SET last_signal_at = v.at, expires_at = v.expires "
                "FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[]) AS v(id, at, expires) "
                "WHERE c.id = v.id AND c.closed_at IS NULL AND c.last_signal_at < v.at",
                [[pk for pk, _, _ in rows], [at for _, at, _ in rows], [expires for _, _, expires in rows]],
            )
        return
    with transaction.atomic():
        for pk, at, expires in rows:
            Connection.objects.filter(pk=pk, closed_at__isnull=True, last_signal_at__lt=at).update(
                last_signal_at=at, expires_at=expires
            )


# A node's batch of socket pings, renewed without reading the rows first: each connection named (by
# its whiteboard, id and user), still open, at the same visibility, not written later since, and
# (hidden) without a visible connection of the same participant open, which needs the locked path.
_RENEW_LIVENESS = """
    UPDATE whiteboard_connections c SET last_signal_at = v.at, expires_at = v.expires
    FROM unnest(%s::uuid[], %s::bigint[], %s::bigint[], %s::timestamptz[], %s::timestamptz[], %s::text[])
      AS v(connection_id, user_id, whiteboard_id, at, expires, visibility)
    WHERE c.whiteboard_id = v.whiteboard_id AND c.connection_id = v.connection_id AND c.user_id = v.user_id
      AND c.closed_at IS NULL AND c.visibility = v.visibility AND c.last_signal_at < v.at
      AND (v.visibility = 'visible' OR NOT EXISTS (
        SELECT 1 FROM whiteboard_connections other
        WHERE other.whiteboard_id = c.whiteboard_id AND other.role = c.role
          AND other.closed_at IS NULL AND other.visibility = 'visible'))
    RETURNING c.connection_id
"""


def renew_liveness(rows: list[tuple[uuid.UUID, int, int, datetime, datetime, str]]) -> set[uuid.UUID]:
    """PostgreSQL: renew (connection id, user id, whiteboard id, signal time, new expiry, visibility) in one
    statement where nothing but time changes; returns the connection ids renewed. The rest are left to
    `whiteboard.sockets.presence_liveness_write`'s exact path."""
    columns = [list(column) for column in zip(*rows, strict=True)]
    with db.cursor() as cursor:
        cursor.execute(_RENEW_LIVENESS, columns)
        return {row[0] for row in cursor.fetchall()}


# A node's batch of sockets resuming the connections they had (their node died, their network blinked):
# each renewed at its own time as its fast heartbeat would be, under the same conditions.
_RESUME_ALIVE_HEAD = """
    UPDATE whiteboard_connections c SET last_signal_at = v.at, expires_at = v.expires
    FROM unnest(%s::uuid[], %s::bigint[], %s::bigint[], %s::timestamptz[], %s::timestamptz[], %s::text[])
      AS v(connection_id, user_id, whiteboard_id, at, expires, visibility)
    WHERE c.whiteboard_id = v.whiteboard_id AND c.connection_id = v.connection_id AND c.user_id = v.user_id
      AND"""
# Only this module's constants are pieced together here; every value goes as a parameter.
_RESUME_ALIVE = (
    _RESUME_ALIVE_HEAD
    + _BEAT_APPLIES.format(c="c", now="v.at", visibility="v.visibility")
    + "    RETURNING c.connection_id, c.user_id, c.whiteboard_id, c.role"
)


def resume_alive(
    rows: list[tuple[uuid.UUID, int, int, datetime, datetime, str]],
) -> dict[tuple[uuid.UUID, int, int], str]:
    """PostgreSQL: renew, in one statement, each (connection id, user id, whiteboard id, time, new expiry,
    visibility) that `fast_heartbeat` would have renewed; returns {(connection id, user id, whiteboard id):
    role} of those renewed. The rest are left to `whiteboard.sockets.presence_resume`'s exact path.
    Committed asynchronously like a heartbeat, when its setting says so and no caller's transaction is open."""
    if not rows:
        return {}
    statement = _RESUME_ALIVE
    if settings.PRESENCE["HEARTBEAT_ASYNC_COMMIT"] and not db.in_atomic_block:
        statement += _ASYNC_COMMIT
    columns = [list(column) for column in zip(*rows, strict=True)]
    with db.cursor() as cursor:
        cursor.execute(statement, columns)
        return {(row[0], row[1], row[2]): row[3] for row in cursor.fetchall()}
