"""The read side of presence: who may see a whiteboard, and each participant's presence as of now."""

from dataclasses import dataclass
from datetime import datetime

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from whiteboard.models import PRESENCE_COLUMNS, Connection, PresenceColumns, Role, Visibility, WhiteboardSession
from whiteboard.presence import fold_tail, span_totals


def whiteboard_for_user(*, user, whiteboard_id: int, staff_may_read: bool) -> WhiteboardSession:
    """The whiteboard if `user` is its session's tutor or student, or staff when `staff_may_read`; Http404 otherwise.

    The doors differ on purpose: staff may read the API's connection-status (`staff_may_read=True`),
    but opening the whiteboard page would record them as present, so there they are outsiders
    (`staff_may_read=False`) and follow sessions on the attendance pages instead.
    """
    if not user.is_authenticated:
        raise Http404  # `of_participant` on an anonymous user's null id would match session-less whiteboards
    queryset = WhiteboardSession.objects.select_related("tutoring_session__tutor", "tutoring_session__student")
    if not (staff_may_read and user.is_staff):
        queryset = queryset.of_participant(user)
    return get_object_or_404(queryset, pk=whiteboard_id)


def participant_role(*, session, user) -> str:
    """The user's role in the tutoring session they take part in: its tutor, else its student."""
    return Role.TUTOR if session.tutor_id == user.pk else Role.STUDENT


def _participant_user_id(session, role: str) -> int | None:
    if session is None:
        return None
    return session.tutor_id if role == Role.TUTOR else session.student_id


def presence_folded(
    *, whiteboard: WhiteboardSession, columns: PresenceColumns, connections: list[Connection]
) -> tuple[list[dict], datetime | None]:
    """One participant's spans and last activity with the fast-path heartbeats on their open `connections`
    folded in (`presence.fold_tail`); the row's own columns lag behind steady heartbeats."""
    return fold_tail(
        getattr(whiteboard, columns.presence_spans),
        last_activity_at=getattr(whiteboard, columns.last_activity_at),
        signals=[(c.last_signal_at, c.visibility) for c in connections],
    )


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
    # "visible" while some open tab is visible, "hidden" while all are in the background, None when gone.
    visibility: str | None = None
    # Once the raw detail is gone (whiteboard/retention.py): when and why ("retention" or "erasure"), and the
    # totals it held; `spans` is then empty and `reconnects` the kept count.
    detail_removed: dict | None = None


def _visibility(alive: list[Connection]) -> str | None:
    if not alive:
        return None
    return Visibility.VISIBLE if any(c.visibility == Visibility.VISIBLE for c in alive) else Visibility.HIDDEN


def open_connections_of(whiteboard: WhiteboardSession) -> list[Connection]:
    """The whiteboard's connections not closed yet (alive or lapsed and not swept): what presence is read from."""
    return list(whiteboard.connections.filter(closed_at__isnull=True))


def presence_snapshot(
    *, whiteboard: WhiteboardSession, now: datetime | None = None, open_connections: list[Connection] | None = None
) -> dict[str, ParticipantStatus]:
    """Both participants' presence as of `now`. Pass `open_connections` when already fetched (lists)."""
    now = now or timezone.now()
    if open_connections is None:
        open_connections = open_connections_of(whiteboard)
    session = getattr(whiteboard, "tutoring_session", None)
    result = {}
    for role in Role.values:
        columns = PRESENCE_COLUMNS[role]
        mine = [c for c in open_connections if c.role == role]
        alive = [c for c in mine if c.is_alive(now)]
        # The fast-path heartbeats not yet folded into the row, folded here in memory (never saved).
        stored_activity_at = getattr(whiteboard, columns.last_activity_at)
        spans, last_activity_at = presence_folded(whiteboard=whiteboard, columns=columns, connections=mine)
        if last_activity_at != stored_activity_at:
            active_seconds, hidden_seconds = span_totals(spans)
        else:
            active_seconds = getattr(whiteboard, columns.total_active_seconds)
            hidden_seconds = getattr(whiteboard, columns.hidden_seconds)
        disconnected_at = getattr(whiteboard, columns.disconnected_at)
        removed = (whiteboard.presence_kept or {}).get(role)
        if not alive and disconnected_at is None:
            disconnected_at = last_activity_at  # timed out, not yet swept
        result[role] = ParticipantStatus(
            user_id=_participant_user_id(session, role),
            connected=bool(alive),
            connected_at=getattr(whiteboard, columns.connected_at),
            disconnected_at=None if alive else disconnected_at,
            last_activity_at=last_activity_at,
            total_active_seconds=active_seconds,
            hidden_seconds=hidden_seconds,
            open_connections=len(alive),
            reconnects=removed["reconnects"] if removed else max(0, len(spans) - 1),
            spans=spans,
            visibility=_visibility(alive),
            detail_removed=removed,
        )
    return result


def presence_summary(*, whiteboard_id: int, now: datetime | None = None) -> dict:
    """Who is on the whiteboard now, for its "who is here" badges: connected, and hidden (no visible tab)."""
    return presence_summaries(whiteboard_ids=[whiteboard_id], now=now)[whiteboard_id]


def presence_summaries(*, whiteboard_ids, now: datetime | None = None) -> dict[int, dict]:
    """`presence_summary` of each whiteboard, in one query (a node's batch of opening sockets reads them at once)."""
    now = now or timezone.now()
    open_connections = {whiteboard_id: [] for whiteboard_id in whiteboard_ids}
    if open_connections:
        for connection in Connection.objects.filter(
            whiteboard_id__in=list(open_connections), closed_at__isnull=True
        ).only("whiteboard_id", "role", "visibility", "closed_at", "expires_at"):
            open_connections[connection.whiteboard_id].append(connection)
    return {
        whiteboard_id: presence_summary_of(open_connections=connections, now=now)
        for whiteboard_id, connections in open_connections.items()
    }


def presence_summary_of(*, open_connections: list[Connection], now: datetime) -> dict:
    """`presence_summary` from a whiteboard's open connections already read (the socket's connect reads them)."""
    result = {}
    for role in Role.values:
        alive = [c for c in open_connections if c.role == role and c.is_alive(now)]
        result[role] = {
            "connected": bool(alive),
            "hidden": bool(alive) and all(c.visibility == Visibility.HIDDEN for c in alive),
        }
    return result
