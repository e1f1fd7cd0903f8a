"""Presence tracking: the one place where connect, heartbeat, disconnect and timeouts are decided.

The API, the presence socket (whiteboard/consumers.py; its batched pings: whiteboard/sockets.py),
tasks and commands call these. Every decision happens with the whiteboard row locked, so two
tabs, a retry and the sweep can never interleave halfway through one. The one exception
is the heartbeat fast path (`whiteboard.fastpath`, PostgreSQL only; docs/presence-fast-path.md):
a beat that changes nothing but time touches only its connection row, and the whiteboard
row catches up later, under the lock in every locked path and in memory on every read
(`whiteboard.selectors.presence_snapshot`: read presence through it, not from the row's columns).

A heartbeat costs at most four statements besides authentication: the fast attempt, then, when it
does not apply, the whiteboard lock, the connections, and one write (`fastpath.store_heartbeat`).

Active time is the union of a participant's connections: each gap between two
consecutive signals (from any tab) counts when some connection was still alive over
it, so a second tab never counts twice and a retried request adds nothing.

Long because: the four doors' rules share private helpers over one lock; at about 400 lines, the
next addition should move the result types and the participant view into modules of their own.
"""

import uuid
from dataclasses import dataclass, field, fields
from datetime import datetime

from django.db import connection as db
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.ratelimit import Rate
from core.errors import DomainError, Throttled
from whiteboard import fastpath
from whiteboard.models import PRESENCE_COLUMNS, Connection, PresenceColumns, Role, Visibility, WhiteboardSession
from whiteboard.presence import PresenceSettings, extend_span, presence_window_check, span_totals, start_span
from whiteboard.selectors import participant_role, presence_folded, presence_summary_of
from whiteboard.signals import presence_announce, presence_record


@dataclass(frozen=True)
class ConnectionResult:
    connection_id: uuid.UUID
    role: str
    heartbeat_interval: int
    timeout_seconds: int
    # After a connect: who is on the whiteboard (`selectors.presence_summary`), read with the connect's own
    # rows, so the socket's welcome needs no query of its own. None after a heartbeat.
    presence: dict | None = field(default=None, compare=False)

    @classmethod
    def of(
        cls, connection_id: uuid.UUID, role: str, *, visibility: str, conf: PresenceSettings, presence=None
    ) -> "ConnectionResult":
        """What the client must keep to: beat every interval, or be timed out after the silence its visibility allows."""
        timeout = int(conf.timeout(visibility).total_seconds())
        return cls(connection_id, role, conf.heartbeat_interval, timeout, presence)


@dataclass(frozen=True)
class DisconnectResult:
    connection_id: uuid.UUID
    role: str
    already_closed: bool


class _Column:
    """One presence value of a `_Participant`, kept in its role's column of the row: the attribute
    `last_activity_at` reads and writes the column `PresenceColumns.last_activity_at` names."""

    def __set_name__(self, owner, name: str):
        self.name = name

    def __get__(self, participant: "_Participant", owner=None):
        return getattr(participant.whiteboard, getattr(participant.columns, self.name))

    def __set__(self, participant: "_Participant", value) -> None:
        column = getattr(participant.columns, self.name)
        if getattr(participant.whiteboard, column) != value:
            setattr(participant.whiteboard, column, value)
            participant.changed.add(column)


class _Participant:
    """Read/write view over one participant's presence columns of a whiteboard row; `changed` names
    the columns written, for a save of those alone."""

    FIELDS = tuple(field.name for field in fields(PresenceColumns))  # the attributes below, by name

    connected_at = _Column()
    disconnected_at = _Column()
    last_activity_at = _Column()
    total_active_seconds = _Column()
    hidden_seconds = _Column()
    presence_spans = _Column()

    def __init__(self, whiteboard: WhiteboardSession, role: str):
        self.whiteboard = whiteboard
        self.role = role
        self.columns: PresenceColumns = PRESENCE_COLUMNS[role]
        self.changed: set[str] = set()

    def set_spans(self, spans: list[dict]) -> None:
        self.presence_spans = spans
        self.total_active_seconds, self.hidden_seconds = span_totals(spans)


def _log(
    participant: _Participant, *, event: str, role: str, user_id: int, connection_id, at: datetime, **extra
) -> None:
    """Append an event to the whiteboard's connection log (saved with the participant's columns)."""
    entry = {
        "event": event,
        "role": role,
        "user_id": user_id,
        "connection_id": str(connection_id),
        "at": at.isoformat(),
        **{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in extra.items()},
    }
    whiteboard = participant.whiteboard
    whiteboard.connection_logs = [*whiteboard.connection_logs, entry]
    participant.changed.add("connection_logs")


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
    return whiteboard, participant_role(session=whiteboard.tutoring_session, user=user)


def _open_connections(whiteboard: WhiteboardSession, role: str) -> list[Connection]:
    """The participant's open connections, locked (under the whiteboard lock, always taken first).

    The lock is for the heartbeat fast path, which writes a connection row without the whiteboard
    lock: a fast beat in flight has either committed (and is read here, then folded) or waits
    until this transaction ends, so a beat can never be renewing a connection that this
    transaction reads as expired and closes, nor be overwritten unread.
    """
    return list(Connection.objects.select_for_update().filter(whiteboard=whiteboard, role=role, closed_at__isnull=True))


def _connections_for_connect(
    whiteboard: WhiteboardSession, *, connection_id: uuid.UUID | None
) -> tuple[list[Connection], Connection | None]:
    """Every open connection of the whiteboard (both participants) and the one named `connection_id`
    (open or not, anyone's), locked: one query where the participant's, the id's and the welcome's
    "who is here" would take three (a reconnect storm is made of these)."""
    condition = Q(closed_at__isnull=True)
    if connection_id is not None:
        condition |= Q(connection_id=connection_id)
    rows = list(Connection.objects.select_for_update().filter(whiteboard=whiteboard).filter(condition))
    named = next((c for c in rows if connection_id is not None and c.connection_id == connection_id), None)
    return [c for c in rows if c.closed_at is None], named


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


def _catch_up(participant: _Participant, connections: list[Connection]) -> None:
    """Fold the fast-path heartbeats since `last_activity_at` into the stored spans (under the lock)."""
    spans, end = presence_folded(
        whiteboard=participant.whiteboard, columns=participant.columns, connections=connections
    )
    if end != participant.last_activity_at:
        participant.set_spans(spans)
        participant.last_activity_at = end


def _time_out(participant: _Participant, stale: list[Connection], now, *, write: bool = True) -> None:
    """Close connections nobody heard from in time. They stop earning time at their last signal.

    `write=False`: decide and log only; the caller stores the closing with its other writes (`fastpath.store_heartbeat`).
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
            participant,
            event="timeout",
            role=connection.role,
            user_id=connection.user_id,
            connection_id=connection.connection_id,
            at=now,
            last_seen_at=connection.last_signal_at,
        )


def _mark_gone_if_no_one_left(participant: _Participant, alive: list[Connection], *, reason: str) -> None:
    if not alive and participant.disconnected_at is None and participant.last_activity_at:
        # Presence ended with the last signal heard, whether by disconnect or by timeout.
        participant.disconnected_at = participant.last_activity_at
        presence_record(
            whiteboard_id=participant.whiteboard.pk,
            role=participant.role,
            event="left",
            reason=reason,
            at=participant.disconnected_at,
        )


def _continue_presence(participant: _Participant, alive: list[Connection], now) -> None:
    """A signal while the participant is present: the gap since their previous signal counts."""
    since = participant.last_activity_at
    if since is None or now <= since:
        return
    hidden = all(c.visibility == Visibility.HIDDEN for c in alive)
    participant.set_spans(extend_span(participant.presence_spans, since=since, until=now, hidden=hidden))
    participant.last_activity_at = now


def _save(participant: _Participant) -> None:
    if participant.changed:
        participant.whiteboard.save(update_fields=sorted(participant.changed))


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
        presence_window_check(session=whiteboard.tutoring_session, now=now)  # outside_presence_window: 409 / 4408
        participant = _Participant(whiteboard, role)
        everyone, existing = _connections_for_connect(whiteboard, connection_id=connection_id)
        connections = [c for c in everyone if c.role == role]
        _catch_up(participant, connections)
        if existing is not None and existing.user_id != user.pk:
            raise DomainError("This connection id is already used by someone else.", "connection_id_taken")
        if existing is not None and not existing.is_alive(now):
            raise DomainError("This connection was closed; connect with a new connection id.", "connection_closed")

        stale = [c for c in connections if not c.is_alive(now)]
        _time_out(participant, stale, now, write=False)
        alive = [c for c in connections if c.is_alive(now)]
        if alive:
            _continue_presence(participant, alive, now)
        else:
            _mark_gone_if_no_one_left(participant, alive, reason="timeout")  # timed out, not swept yet
            presence_record(whiteboard_id=whiteboard.pk, role=role, event="joined", reason="connect", at=now)
            participant.set_spans(start_span(participant.presence_spans, at=now))
            participant.last_activity_at = now
            participant.disconnected_at = None
            if participant.connected_at is None:
                participant.connected_at = now

        if existing is None:
            existing = Connection(
                whiteboard=whiteboard, role=role, user=user, connection_id=connection_id or uuid.uuid4(), opened_at=now
            )
            _touch(existing, visibility=visibility, now=now, conf=conf)
            _log(
                participant,
                event="connect",
                role=role,
                user_id=user.pk,
                connection_id=existing.connection_id,
                at=now,
                visibility=visibility,
            )
            fastpath.store_heartbeat(
                whiteboard, changed=participant.changed, timed_out=stale, inserted=existing, now=now
            )
            everyone.append(existing)
        else:
            _touch(existing, visibility=visibility, now=now, conf=conf)
            fastpath.store_heartbeat(
                whiteboard, changed=participant.changed, timed_out=stale, touched=existing, now=now
            )
        if not alive:  # only a participant arriving changes what pages show; another tab or a reconnect does not
            presence_announce(whiteboard_id=whiteboard.pk)
    summary = presence_summary_of(open_connections=everyone, now=now)
    return ConnectionResult.of(existing.connection_id, role, visibility=visibility, conf=conf, presence=summary)


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
        hits, role = fastpath.fast_heartbeat(
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
            return ConnectionResult.of(connection_id, role, visibility=visibility, conf=conf)
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
        _time_out(participant, stale, now, write=False)
        if closed_message:
            _mark_gone_if_no_one_left(participant, alive, reason="timeout")
        fastpath.store_heartbeat(whiteboard, changed=participant.changed, timed_out=stale, touched=touched, now=now)
        if stale or closed_message or was_visibility != visibility:
            presence_announce(whiteboard_id=whiteboard.pk)
    # Raised after the commit: the timeout just recorded must stay recorded.
    if closed_message:
        raise DomainError(closed_message, "connection_closed")
    return ConnectionResult.of(connection_id, role, visibility=visibility, conf=conf)


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
        _time_out(participant, [c for c in connections if not c.is_alive(now)], now)
        if connection in alive:
            _continue_presence(participant, alive, now)
            Connection.objects.filter(pk=connection.pk).update(
                closed_at=now, close_reason=Connection.CloseReason.DISCONNECT, last_signal_at=now
            )
            _log(participant, event="disconnect", role=role, user_id=user.pk, connection_id=connection_id, at=now)
        _mark_gone_if_no_one_left(participant, [c for c in alive if c.pk != connection.pk], reason="disconnect")
        _save(participant)
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
                _time_out(participant, stale, now)
                _mark_gone_if_no_one_left(participant, [c for c in connections if c.is_alive(now)], reason="timeout")
                _save(participant)
                closed += len(stale)
                if stale:
                    presence_announce(whiteboard_id=whiteboard.pk)
    return closed
