"""Presence tracking: the one place where connect, heartbeat, disconnect and timeouts are decided.

HTTP views call these today; a WebSocket consumer (socket open/close) and cron jobs
call the same functions. Every decision happens with the whiteboard row locked, so two
tabs, a retry and the sweep can never interleave halfway through one. The one exception
is the heartbeat fast path (`_fast_heartbeat`): a beat that changes nothing but time
touches only its connection row, and the whiteboard row catches up later
(`presence.fold_tail`), under the lock in every locked path and in memory on every read
(`presence_snapshot`: read presence through it, not from the row's columns). The fast
path is PostgreSQL's; on SQLite every heartbeat takes the locked path.

A heartbeat costs at most four statements besides authentication: the fast attempt, then,
when it does not apply, the whiteboard lock, the connections, and one write (`_store`).

Active time is the union of a participant's connections: each gap between two
consecutive signals (from any tab) counts when some connection was still alive over
it, so a second tab never counts twice and a retried request adds nothing.
"""

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection as db
from django.db import transaction
from django.db.models import Case, F, Q, Value, When, sql
from django.utils import timezone

from accounts import ratelimit
from accounts.ratelimit import Rate
from core.errors import DomainError, Throttled
from whiteboard.models import Connection, Role, Visibility, WhiteboardSession
from whiteboard.presence import PresenceSettings, extend_span, fold_tail, span_totals, start_span


@dataclass(frozen=True)
class ConnectionResult:
    connection_id: uuid.UUID
    role: str
    heartbeat_interval: int
    timeout_seconds: int


@dataclass(frozen=True)
class DisconnectResult:
    connection_id: uuid.UUID
    role: str
    already_closed: bool


class _Participant:
    """Read/write view over one participant's `<role>_*` columns of a whiteboard row."""

    FIELDS = (
        "connected_at",
        "disconnected_at",
        "last_activity_at",
        "total_active_seconds",
        "hidden_seconds",
        "presence_spans",
    )

    def __init__(self, whiteboard: WhiteboardSession, role: str):
        self.whiteboard = whiteboard
        self.role = role
        self.changed: set[str] = set()

    def get(self, name):
        return getattr(self.whiteboard, f"{self.role}_{name}")

    def set(self, name, value):
        if self.get(name) != value:
            setattr(self.whiteboard, f"{self.role}_{name}", value)
            self.changed.add(f"{self.role}_{name}")

    def set_spans(self, spans: list[dict]):
        self.set("presence_spans", spans)
        active, hidden = span_totals(spans)
        self.set("total_active_seconds", active)
        self.set("hidden_seconds", hidden)


def _log(
    whiteboard: WhiteboardSession, *, event: str, role: str, user_id: int, connection_id, at: datetime, **extra
) -> None:
    entry = {
        "event": event,
        "role": role,
        "user_id": user_id,
        "connection_id": str(connection_id),
        "at": at.isoformat(),
        **{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in extra.items()},
    }
    whiteboard.connection_logs = [*whiteboard.connection_logs, entry]


def _lock_for_participant(*, whiteboard_id: int, user) -> tuple[WhiteboardSession, str]:
    """The whiteboard row, locked, and the user's role on it; not_found for anyone outside the session."""
    whiteboard = (
        WhiteboardSession.objects.select_for_update(of=("self",))
        .select_related("tutoring_session")
        .filter(pk=whiteboard_id)
        .of_participant(user)
        .first()
    )
    if whiteboard is None:
        raise DomainError("No whiteboard session with this id.", "not_found")
    session = whiteboard.tutoring_session
    return whiteboard, (Role.TUTOR if session.tutor_id == user.pk else Role.STUDENT)


def _open_connections(whiteboard: WhiteboardSession, role: str) -> list[Connection]:
    """The participant's open connections, locked (under the whiteboard lock, always taken first).

    The lock is for the heartbeat fast path, which writes a connection row without the whiteboard
    lock: a fast beat in flight has either committed (and is read here, then folded) or waits
    until this transaction ends, so a beat can never be renewing a connection that this
    transaction reads as expired and closes, nor be overwritten unread.
    """
    return list(Connection.objects.select_for_update().filter(whiteboard=whiteboard, role=role, closed_at__isnull=True))


def _connections_for_beat(
    whiteboard: WhiteboardSession, role: str, *, user, connection_id: uuid.UUID
) -> tuple[list[Connection], Connection | None]:
    """The participant's open connections and the beating one (open or not; None if not the user's), locked.

    One query for both, where `_open_connections` and a lookup of the beating one would take two:
    the heartbeat's budget.
    """
    rows = list(
        Connection.objects.select_for_update()
        .filter(whiteboard=whiteboard)
        .filter(Q(role=role, closed_at__isnull=True) | Q(connection_id=connection_id))
    )
    beating = next((c for c in rows if c.connection_id == connection_id and c.user_id == user.pk), None)
    return [c for c in rows if c.role == role and c.closed_at is None], beating


def _store(
    whiteboard: WhiteboardSession,
    participant: _Participant,
    *,
    timed_out: list[Connection],
    touched: Connection | None,
    now: datetime,
) -> None:
    """Write a heartbeat's decision: close `timed_out`, renew `touched`, save the participant's columns.

    The connections take one UPDATE (CASE per row) and the whiteboard row another; on PostgreSQL
    the two go as one statement (the first as a data-modifying WITH), which keeps a heartbeat
    within four statements even after the fast path's attempt (`_fast_heartbeat`).
    """
    statements = []
    values = {}
    if timed_out:
        closing = [c.pk for c in timed_out]
        values["closed_at"] = Case(When(pk__in=closing, then=Value(now)), default=F("closed_at"))
        values["close_reason"] = Case(
            When(pk__in=closing, then=Value(Connection.CloseReason.TIMEOUT.value)), default=F("close_reason")
        )
    if touched is not None:
        for name in ("last_signal_at", "visibility", "expires_at"):
            values[name] = Case(When(pk=touched.pk, then=Value(getattr(touched, name))), default=F(name))
    if values:
        ids = [c.pk for c in timed_out] + ([touched.pk] if touched is not None else [])
        statements.append(_update_sql(Connection.objects.filter(pk__in=ids), values))
    if participant.changed:
        changed = {name: getattr(whiteboard, name) for name in sorted(participant.changed)}
        statements.append(_update_sql(WhiteboardSession.objects.filter(pk=whiteboard.pk), changed))
    if db.vendor == "postgresql" and len(statements) == 2:
        (first_sql, first_params), (second_sql, second_params) = statements
        statements = [(f"WITH connections_written AS ({first_sql}) {second_sql}", (*first_params, *second_params))]
    with db.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)


def _update_sql(queryset, values: dict) -> tuple[str, tuple]:
    """The SQL and parameters `queryset.update(**values)` would send, to send it as part of another statement."""
    query = queryset.query.chain(sql.UpdateQuery)
    query.add_update_values(values)
    compiler = query.get_compiler(queryset.db)
    compiler.pre_sql_setup()
    return compiler.as_sql()


def _catch_up(participant: _Participant, connections: list[Connection]) -> None:
    """Fold the fast-path heartbeats since `last_activity_at` into the stored spans (under the lock)."""
    since = participant.get("last_activity_at")
    spans, end = fold_tail(
        participant.get("presence_spans"),
        last_activity_at=since,
        signals=[(c.last_signal_at, c.visibility) for c in connections],
    )
    if end != since:
        participant.set_spans(spans)
        participant.set("last_activity_at", end)


def _time_out(
    whiteboard: WhiteboardSession, participant: _Participant, stale: list[Connection], now, *, write: bool = True
) -> None:
    """Close connections nobody heard from in time. They stop earning time at their last signal.

    `write=False`: decide and log only; the caller stores the closing with its other writes (`_store`).
    """
    if not stale:
        return
    if write:
        Connection.objects.filter(pk__in=[c.pk for c in stale]).update(
            closed_at=now, close_reason=Connection.CloseReason.TIMEOUT
        )
    for connection in stale:
        connection.closed_at, connection.close_reason = now, Connection.CloseReason.TIMEOUT
        _log(
            whiteboard,
            event="timeout",
            role=connection.role,
            user_id=connection.user_id,
            connection_id=connection.connection_id,
            at=now,
            last_seen_at=connection.last_signal_at,
        )
    participant.changed.add("connection_logs")


def _mark_gone_if_no_one_left(participant: _Participant, alive: list[Connection]) -> None:
    if not alive and participant.get("disconnected_at") is None and participant.get("last_activity_at"):
        # Presence ended with the last signal heard, whether by disconnect or by timeout.
        participant.set("disconnected_at", participant.get("last_activity_at"))


def _continue_presence(participant: _Participant, alive: list[Connection], now) -> None:
    """A signal while the participant is present: the gap since their previous signal counts."""
    since = participant.get("last_activity_at")
    if since is None or now <= since:
        return
    hidden = all(c.visibility == Visibility.HIDDEN for c in alive)
    participant.set_spans(extend_span(participant.get("presence_spans"), since=since, until=now, hidden=hidden))
    participant.set("last_activity_at", now)


def _save(whiteboard: WhiteboardSession, participant: _Participant) -> None:
    if participant.changed:
        whiteboard.save(update_fields=sorted(participant.changed))


def _touch(connection: Connection, *, visibility: str, now, conf: PresenceSettings) -> None:
    connection.last_signal_at = now
    connection.visibility = visibility
    connection.expires_at = now + conf.timeout(visibility)


def presence_connect(
    *,
    whiteboard_id: int,
    user,
    connection_id: uuid.UUID | None = None,
    visibility: str = Visibility.VISIBLE,
    now: datetime | None = None,
) -> ConnectionResult:
    """Open a connection (a tab or socket). Connecting again with the same open id is a harmless retry."""
    conf = PresenceSettings.current()
    with transaction.atomic():
        whiteboard, role = _lock_for_participant(whiteboard_id=whiteboard_id, user=user)
        # Taken after the lock: a request that waited must not write a time before its predecessor's.
        now = now or timezone.now()
        participant = _Participant(whiteboard, role)
        connections = _open_connections(whiteboard, role)
        _catch_up(participant, connections)
        existing = None
        if connection_id is not None:
            existing = Connection.objects.filter(whiteboard=whiteboard, connection_id=connection_id).first()
            if existing is not None and existing.user_id != user.pk:
                raise DomainError("This connection id is already used by someone else.", "connection_id_taken")
            if existing is not None and not existing.is_alive(now):
                raise DomainError("This connection was closed; connect with a new connection id.", "connection_closed")

        _time_out(whiteboard, participant, [c for c in connections if not c.is_alive(now)], now)
        alive = [c for c in connections if c.is_alive(now)]
        if alive:
            _continue_presence(participant, alive, now)
        else:
            participant.set_spans(start_span(participant.get("presence_spans"), at=now))
            participant.set("last_activity_at", now)
            participant.set("disconnected_at", None)
            if participant.get("connected_at") is None:
                participant.set("connected_at", now)

        if existing is None:
            existing = Connection(
                whiteboard=whiteboard, role=role, user=user, connection_id=connection_id or uuid.uuid4(), opened_at=now
            )
            _touch(existing, visibility=visibility, now=now, conf=conf)
            existing.save(force_insert=True)
            _log(
                whiteboard,
                event="connect",
                role=role,
                user_id=user.pk,
                connection_id=existing.connection_id,
                at=now,
                visibility=visibility,
            )
            participant.changed.add("connection_logs")
        else:
            _touch(existing, visibility=visibility, now=now, conf=conf)
            existing.save(update_fields=["last_signal_at", "visibility", "expires_at"])
        _save(whiteboard, participant)
        if not alive:  # only a participant arriving changes what pages show; another tab or a reconnect does not
            presence_announce(whiteboard_id=whiteboard.pk)
    return ConnectionResult(
        existing.connection_id, role, conf.heartbeat_interval, int(conf.timeout(visibility).total_seconds())
    )


# The heartbeat fast path (`_fast_heartbeat`): tables `whiteboard_connections` (Connection) and
# `sessions` (TutoringSession). PostgreSQL only: SQLite runs one writer at a time anyway, and there
# every heartbeat takes the locked path.
_FAST_HEARTBEAT_UPDATE = """
    UPDATE whiteboard_connections SET last_signal_at = %s, expires_at = %s
    WHERE whiteboard_id = %s AND connection_id = %s AND user_id = %s
      AND closed_at IS NULL AND expires_at >= %s AND visibility = %s
      AND NOT EXISTS (
        SELECT 1 FROM whiteboard_connections other
        WHERE other.whiteboard_id = whiteboard_connections.whiteboard_id
          AND other.role = whiteboard_connections.role
          AND other.closed_at IS NULL AND other.id <> whiteboard_connections.id
          AND (other.expires_at < %s
            OR (whiteboard_connections.visibility = 'hidden' AND other.visibility = 'visible')))
      AND EXISTS (
        SELECT 1 FROM sessions s WHERE s.whiteboard_id = whiteboard_connections.whiteboard_id
          AND ((whiteboard_connections.role = 'tutor' AND s.tutor_id = whiteboard_connections.user_id)
            OR (whiteboard_connections.role = 'student' AND s.student_id = whiteboard_connections.user_id
                AND s.tutor_id <> whiteboard_connections.user_id)))
"""
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


def _fast_heartbeat(
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
    the participant whose liveness ran out (the locked path times it out at this beat, as it
    always has); a hidden beat while the participant has a visible tab open; a user no longer
    part of the session (the EXISTS: the locked path's 404).

    Only the connection row moves; the participant's `last_activity_at` and spans lag behind
    and are caught up by `presence.fold_tail`, in memory on every read (`presence_snapshot`) and
    stored under the whiteboard lock by every locked path before it decides anything. The fold
    gives the numbers beat-by-beat processing would have given because, with the NOT EXISTS
    below, a tail holds beats of one kind only: visible beats (each gap ends at a visible, alive
    tab: visible time), or hidden beats while no tab of the participant is visible (hidden time);
    going from one kind to the other takes a locked path, which moves `last_activity_at`.

    Concurrency (PostgreSQL, READ COMMITTED). The UPDATE takes one lock, its connection row's,
    and waits for nothing while holding it (a counted beat first takes its user's counter row,
    which no locked path touches). Every locked path takes the whiteboard row, then the
    participant's open connection rows (FOR UPDATE: `_open_connections`, or
    `_connections_for_beat` for a heartbeat), and only then folds and decides; so a fast beat
    and a locked path serialise on the connection row:
    - the fast beat committed first: the locked path's FOR UPDATE waits for it and reads its
      `last_signal_at` and `expires_at`, so the fold counts the beat once, and the liveness
      the locked path judges (timeout, disconnect, 409) is the one the beat left;
    - the locked path locked first: the fast UPDATE waits, then re-checks its WHERE on the row
      as committed. Closed by a disconnect or a timeout: no row, the locked path answers (409,
      as it would have in that order); still open: the beat lands on the row, where the next
      fold (read or locked path) finds it. If its time is not after the stored
      `last_activity_at` it lies inside a span already extended past it and adds nothing.
    Spans only grow (`extend_span` ignores what they already cover), `last_activity_at` only
    moves forward, and the fold reads each beat from the one row it was written to: no
    acknowledged heartbeat is lost, and none counts twice. What the NOT EXISTS saw is a snapshot:
    a tab turning visible at the same instant as another's hidden fast beat can leave those
    few milliseconds counted as hidden; the total is unaffected.

    Durability. Unless PRESENCE["HEARTBEAT_ASYNC_COMMIT"] is off, the statement's own transaction
    commits asynchronously: it answers without waiting for its WAL to reach the disk, and
    PostgreSQL's WAL writer flushes it within three `wal_writer_delay`s (0.6 s by default). A
    stopped server flushes first; only a crash of PostgreSQL or its machine can lose those last
    beats, and a lost beat only moves its participant's end of presence back to their previous
    beat, at most one heartbeat interval: the accuracy presence is kept to. Everything else
    (connects, disconnects, timeouts, attendance) commits synchronously.
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


def presence_heartbeat(
    *,
    whiteboard_id: int,
    user,
    connection_id: uuid.UUID,
    visibility: str,
    now: datetime | None = None,
    rate: Rate | None = None,
) -> ConnectionResult:
    """Record that a connection is still there. A connection the server has closed must connect again.

    `rate`: count the request against this per-user limit first; over it, `Throttled` and nothing
    is recorded. On PostgreSQL the count is part of the fast statement, elsewhere it is the cache's.
    """
    conf = PresenceSettings.current()
    asked_at = now or timezone.now()
    if db.vendor == "postgresql":
        hits, role = _fast_heartbeat(
            whiteboard_id=whiteboard_id,
            user=user,
            connection_id=connection_id,
            visibility=visibility,
            now=asked_at,
            conf=conf,
            rate=rate,
        )
        if rate is not None and hits > rate.limit:
            raise Throttled(rate.wait(asked_at.timestamp()))
        if role is not None:
            return ConnectionResult(
                connection_id, role, conf.heartbeat_interval, int(conf.timeout(visibility).total_seconds())
            )
    elif rate is not None and (wait := rate.hit(user.pk, asked_at.timestamp())) is not None:
        raise Throttled(wait)
    closed_message = None
    with transaction.atomic():
        whiteboard, role = _lock_for_participant(whiteboard_id=whiteboard_id, user=user)
        now = now or timezone.now()
        participant = _Participant(whiteboard, role)
        connections, connection = _connections_for_beat(whiteboard, role, user=user, connection_id=connection_id)
        if connection is None:
            raise DomainError("No such connection on this whiteboard; connect first.", "unknown_connection")
        was_visibility = connection.visibility
        _catch_up(participant, connections)
        stale = [c for c in connections if not c.is_alive(now)]
        alive = [c for c in connections if c.is_alive(now)]
        touched = None
        if connection.closed_at is not None:
            closed_message = "This connection was closed by the server; connect again."
        elif connection in stale:
            closed_message = "This connection timed out; connect again."
        else:
            _continue_presence(participant, alive, now)
            _touch(connection, visibility=visibility, now=now, conf=conf)
            touched = connection
        _time_out(whiteboard, participant, stale, now, write=False)
        if closed_message:
            _mark_gone_if_no_one_left(participant, alive)
        _store(whiteboard, participant, timed_out=stale, touched=touched, now=now)
        if stale or closed_message or was_visibility != visibility:
            presence_announce(whiteboard_id=whiteboard.pk)
    # Raised after the commit: the timeout just recorded must stay recorded.
    if closed_message:
        raise DomainError(closed_message, "connection_closed")
    return ConnectionResult(connection_id, role, conf.heartbeat_interval, int(conf.timeout(visibility).total_seconds()))


def presence_disconnect(
    *, whiteboard_id: int, user, connection_id: uuid.UUID, now: datetime | None = None
) -> DisconnectResult:
    """Close a connection. Idempotent: closing a closed connection changes nothing."""
    with transaction.atomic():
        whiteboard, role = _lock_for_participant(whiteboard_id=whiteboard_id, user=user)
        now = now or timezone.now()
        participant = _Participant(whiteboard, role)
        connection = Connection.objects.filter(
            whiteboard=whiteboard, connection_id=connection_id, user_id=user.pk
        ).first()
        if connection is None:
            raise DomainError("No such connection on this whiteboard.", "unknown_connection")
        if connection.closed_at is not None:
            return DisconnectResult(connection_id, role, already_closed=True)

        connections = _open_connections(whiteboard, role)
        _catch_up(participant, connections)
        alive = [c for c in connections if c.is_alive(now)]
        _time_out(whiteboard, participant, [c for c in connections if not c.is_alive(now)], now)
        if connection in alive:
            _continue_presence(participant, alive, now)
            Connection.objects.filter(pk=connection.pk).update(
                closed_at=now, close_reason=Connection.CloseReason.DISCONNECT, last_signal_at=now
            )
            _log(whiteboard, event="disconnect", role=role, user_id=user.pk, connection_id=connection_id, at=now)
            participant.changed.add("connection_logs")
        _mark_gone_if_no_one_left(participant, [c for c in alive if c.pk != connection.pk])
        _save(whiteboard, participant)
        presence_announce(whiteboard_id=whiteboard.pk)
    return DisconnectResult(connection_id, role, already_closed=False)


def presence_sweep(*, now: datetime | None = None) -> int:
    """Close every connection whose liveness ran out (crashed browsers). Safe to run on many machines at once."""
    now = now or timezone.now()
    whiteboard_ids = list(
        Connection.objects.filter(closed_at__isnull=True, expires_at__lt=now)
        .values_list("whiteboard_id", flat=True)
        .distinct()
    )
    closed = 0
    for whiteboard_id in whiteboard_ids:
        with transaction.atomic():
            # Under the row lock the open connections are read again: a concurrent sweep or
            # heartbeat that got there first has already closed (or revived) them.
            whiteboard = WhiteboardSession.objects.select_for_update().get(pk=whiteboard_id)
            for role in Role.values:
                participant = _Participant(whiteboard, role)
                connections = _open_connections(whiteboard, role)
                _catch_up(participant, connections)  # before closing: the stale ones' last beats count
                stale = [c for c in connections if not c.is_alive(now)]
                _time_out(whiteboard, participant, stale, now)
                _mark_gone_if_no_one_left(participant, [c for c in connections if c.is_alive(now)])
                _save(whiteboard, participant)
                closed += len(stale)
                if stale:
                    presence_announce(whiteboard_id=whiteboard.pk)
    return closed


@dataclass(frozen=True)
class ParticipantStatus:
    """What is known of one participant's presence at `now` (timeouts applied, even before the sweep)."""

    user_id: int | None
    connected: bool
    connected_at: datetime | None
    disconnected_at: datetime | None
    last_activity_at: datetime | None
    total_active_seconds: int
    hidden_seconds: int
    open_connections: int
    reconnects: int
    spans: list[dict]


def presence_snapshot(
    *, whiteboard: WhiteboardSession, now: datetime | None = None, open_connections: list[Connection] | None = None
) -> dict[str, ParticipantStatus]:
    """Both participants' presence as of `now`. Pass `open_connections` when already fetched (lists)."""
    now = now or timezone.now()
    if open_connections is None:
        open_connections = list(whiteboard.connections.filter(closed_at__isnull=True))
    session = getattr(whiteboard, "tutoring_session", None)
    result = {}
    for role in Role.values:
        participant = _Participant(whiteboard, role)
        mine = [c for c in open_connections if c.role == role]
        alive = [c for c in mine if c.is_alive(now)]
        # The fast-path heartbeats not yet folded into the row, folded here in memory (never saved).
        last_activity_at = participant.get("last_activity_at")
        spans, end = fold_tail(
            participant.get("presence_spans"),
            last_activity_at=last_activity_at,
            signals=[(c.last_signal_at, c.visibility) for c in mine],
        )
        if end != last_activity_at:
            last_activity_at = end
            active_seconds, hidden_seconds = span_totals(spans)
        else:
            active_seconds, hidden_seconds = participant.get("total_active_seconds"), participant.get("hidden_seconds")
        disconnected_at = participant.get("disconnected_at")
        if not alive and disconnected_at is None:
            disconnected_at = last_activity_at  # timed out, not yet swept
        result[role] = ParticipantStatus(
            user_id=getattr(session, f"{role}_id", None),
            connected=bool(alive),
            connected_at=participant.get("connected_at"),
            disconnected_at=None if alive else disconnected_at,
            last_activity_at=last_activity_at,
            total_active_seconds=active_seconds,
            hidden_seconds=hidden_seconds,
            open_connections=len(alive),
            reconnects=max(0, len(spans) - 1),
            spans=spans,
        )
    return result


# --- WebSocket door (issue 13): announcements, batched liveness, the join window ----------------------


def presence_announce(*, whiteboard_id: int) -> None:
    """Tell the live pages, once the caller's transaction commits, that this whiteboard's presence changed.

    Never for a rolled-back change; a push that fails (Redis down) is only logged (core/live.py).
    """
    from whiteboard.signals import presence_changed

    transaction.on_commit(lambda: presence_changed.send(sender=WhiteboardSession, whiteboard_id=whiteboard_id))


@dataclass(frozen=True)
class LivenessSignal:
    """The last signal (ping) a node heard on one socket, kept in memory until the node's next batch write."""

    whiteboard_id: int
    user_id: int
    connection_id: uuid.UUID
    at: datetime
    visibility: str


def presence_liveness_write(*, signals: list[LivenessSignal]) -> set[uuid.UUID]:
    """Write a node's batch of liveness signals: each as the heartbeat fast path would have, at its own time.

    A socket's pings change nothing but time, so a node keeps only each socket's last one and writes
    them all every WEBSOCKET["FLUSH_INTERVAL"] s (one read and one UPDATE per 500 sockets) instead of
    one statement per ping. Each signal moves its connection's `last_signal_at` and `expires_at` to
    the signal's own time, never the time of writing, and only forwards; presence is then folded from
    the connections exactly as for fast-path heartbeats (`presence.fold_tail`). A signal is skipped when
    a later one (a visibility change, a disconnect) is already written. A hidden socket's signal while
    the participant has a visible connection open takes the locked path (`presence_heartbeat`), like a
    fast-path heartbeat would, so hidden time stays exact.

    Unlike an HTTP heartbeat, a signal renews a connection whose `expires_at` has passed if it is still
    open: the node heard every ping of that socket (it closes a silent one itself, whiteboard/liveness.py),
    so the chain of signals was unbroken; the database only had not been told yet. With FLUSH_INTERVAL
    ≤ 15 s and pings every 15 s this never happens anyway (written expiry = last written signal + 45 s).

    Returns the ids of connections that can no longer be renewed (closed meanwhile, e.g. swept while the
    database was away): their sockets must connect again. A node that dies loses at most its unwritten batch: its
    participants' presence then ends at the last signal written, at most one interval early.
    """
    conf = PresenceSettings.current()
    lost: set[uuid.UUID] = set()
    signals = sorted(signals, key=lambda s: s.at)
    for start in range(0, len(signals), 500):
        chunk = {s.connection_id: s for s in signals[start : start + 500]}
        rows = {
            c.connection_id: c
            for c in Connection.objects.filter(connection_id__in=list(chunk), closed_at__isnull=True).only(
                "pk", "connection_id", "whiteboard_id", "role", "user_id", "visibility", "expires_at", "last_signal_at"
            )
        }
        lost.update(cid for cid in chunk if cid not in rows)
        hidden = [s for cid, s in chunk.items() if cid in rows and s.visibility == Visibility.HIDDEN]
        seen_visible = set()
        if hidden:
            seen_visible = set(
                Connection.objects.filter(
                    whiteboard_id__in={s.whiteboard_id for s in hidden},
                    closed_at__isnull=True,
                    visibility=Visibility.VISIBLE,
                ).values_list("whiteboard_id", "role")
            )
        renew: list[tuple[Connection, LivenessSignal]] = []
        for cid, row in rows.items():
            signal = chunk[cid]
            if row.user_id != signal.user_id or row.whiteboard_id != signal.whiteboard_id:
                lost.add(cid)
            elif signal.at <= row.last_signal_at or signal.visibility != row.visibility:
                continue  # a later write (visibility change, locked heartbeat) already covers it
            elif signal.visibility == Visibility.HIDDEN and (row.whiteboard_id, row.role) in seen_visible:
                user = get_user_model()(pk=signal.user_id)  # the locked path reads only its pk
                try:
                    presence_heartbeat(
                        whiteboard_id=signal.whiteboard_id,
                        user=user,
                        connection_id=cid,
                        visibility=signal.visibility,
                        now=signal.at,
                    )
                except DomainError:
                    lost.add(cid)
            else:
                renew.append((row, signal))
        if renew:
            _write_liveness([(row.pk, s.at, s.at + conf.timeout(s.visibility)) for row, s in renew])
    return lost


def _write_liveness(rows: list[tuple[int, datetime, datetime]]) -> None:
    """Move each connection's (pk) `last_signal_at` and `expires_at` forward, if still open.

    PostgreSQL: one UPDATE joined to the batch passed as three arrays (a CASE per row, as `_store`
    builds, costs seconds at 500 rows). Elsewhere (SQLite, development) one small UPDATE per row.
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


def presence_window_check(*, whiteboard_id: int, user, now: datetime | None = None) -> None:
    """Raise `outside_presence_window` (with opens_at/closes_at) unless now is inside the session's window.

    TODO(lead): helper h15 adds this very check to `presence_connect` (DomainError code
    "outside_presence_window"); once merged, drop this function and its call in whiteboard/consumers.py.
    A whiteboard the user is not part of is `not_found`, as everywhere.
    """
    from whiteboard.presence import presence_window

    now = now or timezone.now()
    whiteboard = (
        WhiteboardSession.objects.select_related("tutoring_session")
        .filter(pk=whiteboard_id)
        .of_participant(user)
        .first()
    )
    if whiteboard is None:
        raise DomainError("No whiteboard session with this id.", "not_found")
    session = whiteboard.tutoring_session
    window = presence_window(scheduled_start=session.scheduled_start, scheduled_end=session.scheduled_end)
    if not window.contains(now):
        error = DomainError(
            f"The whiteboard records presence from {window.opens_at.isoformat()} to {window.closes_at.isoformat()}.",
            "outside_presence_window",
        )
        error.opens_at, error.closes_at = window.opens_at, window.closes_at
        raise error
