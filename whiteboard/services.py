"""Presence tracking: the one place where connect, heartbeat, disconnect and timeouts are decided.

HTTP views call these today; a WebSocket consumer (socket open/close) and cron jobs
call the same functions. Every write happens with the whiteboard row locked, so two
tabs, a retry and the sweep can never interleave halfway through a decision.

Active time is the union of a participant's connections: each gap between two
consecutive signals (from any tab) counts when some connection was still alive over
it, so a second tab never counts twice and a retried request adds nothing.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from config.errors import DomainError
from whiteboard.models import Connection, Role, Visibility, WhiteboardSession
from whiteboard.presence import PresenceSettings, extend_span, span_totals, start_span


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
    return list(Connection.objects.filter(whiteboard=whiteboard, role=role, closed_at__isnull=True))


def _time_out(whiteboard: WhiteboardSession, participant: _Participant, stale: list[Connection], now) -> None:
    """Close connections nobody heard from in time. They stop earning time at their last signal."""
    if not stale:
        return
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
    return ConnectionResult(
        existing.connection_id, role, conf.heartbeat_interval, int(conf.timeout(visibility).total_seconds())
    )


def presence_heartbeat(
    *, whiteboard_id: int, user, connection_id: uuid.UUID, visibility: str, now: datetime | None = None
) -> ConnectionResult:
    """Record that a connection is still there. A connection the server has closed must connect again."""
    conf = PresenceSettings.current()
    closed_message = None
    with transaction.atomic():
        whiteboard, role = _lock_for_participant(whiteboard_id=whiteboard_id, user=user)
        now = now or timezone.now()
        participant = _Participant(whiteboard, role)
        connections = _open_connections(whiteboard, role)
        connection = next((c for c in connections if c.connection_id == connection_id), None)
        stale = [c for c in connections if not c.is_alive(now)]
        alive = [c for c in connections if c.is_alive(now)]
        _time_out(whiteboard, participant, stale, now)

        if connection is None:
            if not Connection.objects.filter(
                whiteboard=whiteboard, connection_id=connection_id, user_id=user.pk
            ).exists():
                raise DomainError("No such connection on this whiteboard; connect first.", "unknown_connection")
            closed_message = "This connection was closed by the server; connect again."
        elif connection in stale:
            closed_message = "This connection timed out; connect again."
        else:
            _continue_presence(participant, alive, now)
            _touch(connection, visibility=visibility, now=now, conf=conf)
            Connection.objects.filter(pk=connection.pk).update(
                last_signal_at=now, visibility=visibility, expires_at=connection.expires_at
            )
        if closed_message:
            _mark_gone_if_no_one_left(participant, alive)
        _save(whiteboard, participant)
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
                stale = [c for c in connections if not c.is_alive(now)]
                _time_out(whiteboard, participant, stale, now)
                _mark_gone_if_no_one_left(participant, [c for c in connections if c.is_alive(now)])
                _save(whiteboard, participant)
                closed += len(stale)
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
        alive = [c for c in open_connections if c.role == role and c.is_alive(now)]
        disconnected_at = participant.get("disconnected_at")
        if not alive and disconnected_at is None:
            disconnected_at = participant.get("last_activity_at")  # timed out, not yet swept
        spans = participant.get("presence_spans")
        result[role] = ParticipantStatus(
            user_id=getattr(session, f"{role}_id", None),
            connected=bool(alive),
            connected_at=participant.get("connected_at"),
            disconnected_at=None if alive else disconnected_at,
            last_activity_at=participant.get("last_activity_at"),
            total_active_seconds=participant.get("total_active_seconds"),
            hidden_seconds=participant.get("hidden_seconds"),
            open_connections=len(alive),
            reconnects=max(0, len(spans) - 1),
            spans=spans,
        )
    return result
