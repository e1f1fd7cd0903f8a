"""Raw presence detail and its removal: what is raw detail, and taking it off one whiteboard.

Raw detail is what the presence service heard, signal by signal: the connection rows (one per tab
or socket), the whiteboard's connection log, and each participant's presence spans (every stretch
and hidden interval, to the second). What stays is the per-session totals: first join, last
activity, disconnect, active and hidden seconds (columns of the row), and in `presence_kept` the
totals that were derived from the removed detail (reconnects from the spans, timeouts from the
log), with when and why it went and the suggestion as it stood before (`attendance/retention.py`
decides *which* whiteboards and writes the suggestion; this module removes).

Detail is as old as its session (`TutoringSession.scheduled_end`; a whiteboard without a session:
its `created_at`), so a kind needs no date of its own: a session's detail goes whole.

Tables of raw detail are a registry, `RAW_DETAIL_KINDS`: another table tied to a whiteboard and a
person (stored drawings, say) joins the purge and the erasure with one line:

    RawDetailKind("strokes", Stroke, person_field="author"),
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import models

from whiteboard.models import PRESENCE_COLUMNS, BoardClear, BoardStroke, Connection, Role, WhiteboardSession
from whiteboard.selectors import presence_snapshot

RETENTION = "retention"
ERASURE = "erasure"


@dataclass(frozen=True)
class RawDetailKind:
    """A table whose rows are raw detail of one whiteboard about one person.

    `delete`: how its rows go, given the rows chosen; the default is one DELETE (the caller bounds
    the whiteboards per batch). Pass your own when deleting needs more (files in storage...).
    """

    name: str
    model: type[models.Model]
    whiteboard_field: str = "whiteboard"
    person_field: str = "user"
    delete: Callable[[models.QuerySet], int] | None = None

    def rows(self, *, whiteboard_ids: Iterable[int], person_id: int | None = None) -> models.QuerySet:
        rows = self.model._default_manager.filter(**{f"{self.whiteboard_field}__in": list(whiteboard_ids)})
        if person_id is not None:
            rows = rows.filter(**{self.person_field: person_id})
        return rows

    def remove(self, rows: models.QuerySet) -> int:
        if self.delete is not None:
            return self.delete(rows)
        deleted, _ = rows.delete()
        return deleted


RAW_DETAIL_KINDS: tuple[RawDetailKind, ...] = (
    RawDetailKind("connections", Connection),
    # The shared board's drawings (whiteboard/board.py): each stroke's points, and who cleared when. The
    # board's counters (strokes and seconds drawn per participant) stay, as presence totals do.
    RawDetailKind("strokes", BoardStroke, person_field="author"),
    RawDetailKind("board_clears", BoardClear, person_field="by"),
)


def _kind_rows(kind: RawDetailKind, whiteboard: WhiteboardSession, roles: list[str]) -> list[models.QuerySet]:
    """The kind's rows about `roles` on the whiteboard: all of them for every role, else each role's person's."""
    if set(roles) == set(Role.values):
        return [kind.rows(whiteboard_ids=[whiteboard.pk])]
    session = getattr(whiteboard, "tutoring_session", None)
    person_ids = [_person_id(session, role) for role in roles]
    return [kind.rows(whiteboard_ids=[whiteboard.pk], person_id=p) for p in person_ids if p is not None]


def detail_counts(*, whiteboard: WhiteboardSession, roles: Iterable[str] = Role.values) -> dict[str, int]:
    """How much raw detail of `roles` the whiteboard holds, per kind (its tables, log entries, spans)."""
    roles = [role for role in roles if role in Role.values]
    counts = {kind.name: sum(rows.count() for rows in _kind_rows(kind, whiteboard, roles)) for kind in RAW_DETAIL_KINDS}
    counts["log_entries"] = sum(1 for e in whiteboard.connection_logs if e.get("role") in roles)
    counts["spans"] = sum(len(getattr(whiteboard, PRESENCE_COLUMNS[role].presence_spans)) for role in roles)
    return counts


def _person_id(session, role: str) -> int | None:
    if session is None:
        return None
    return session.tutor_id if role == Role.TUTOR else session.student_id


def detail_remove(
    *,
    whiteboard: WhiteboardSession,
    roles: Iterable[str],
    because: str,
    now: datetime,
    suggestion: dict | None = None,
    erasure: str | None = None,
    **details,
) -> dict[str, int]:
    """Remove `roles`' raw detail from `whiteboard` (locked by the caller), keeping their totals.

    Before anything goes, each role's derived totals (reconnects, timeouts) are written to
    `presence_kept` with when and why (`because`: retention or erasure, with the erasure's key),
    and `suggestion` (the session's suggestion as it stands, from the attendance app) once: the
    first removal's is kept, since later ones no longer have the detail it was drawn from. A role
    already removed keeps its first record; `details` are written beside (the retention days, say).
    Returns what was removed, per kind.
    """
    roles = [role for role in roles if role in Role.values]
    kept = dict(whiteboard.presence_kept or {})
    if suggestion is not None and "suggestion" not in kept:
        kept["suggestion"] = suggestion
        kept["suggested_at"] = now.isoformat()
    snapshot = presence_snapshot(whiteboard=whiteboard, now=now, open_connections=[])
    counts = {
        kind.name: sum(kind.remove(rows) for rows in _kind_rows(kind, whiteboard, roles)) for kind in RAW_DETAIL_KINDS
    }
    counts["log_entries"] = sum(1 for e in whiteboard.connection_logs if e.get("role") in roles)
    counts["spans"] = sum(len(getattr(whiteboard, PRESENCE_COLUMNS[role].presence_spans)) for role in roles)
    for role in roles:
        if role not in kept:
            kept[role] = {
                "reconnects": snapshot[role].reconnects,
                "timeouts": sum(1 for e in whiteboard.connection_logs if e["event"] == "timeout" and e["role"] == role),
                "removed_at": now.isoformat(),
                "because": because,
                "erasure": erasure,
                **details,
            }
        setattr(whiteboard, PRESENCE_COLUMNS[role].presence_spans, [])
    whiteboard.connection_logs = [e for e in whiteboard.connection_logs if e.get("role") not in roles]
    whiteboard.presence_kept = kept
    fields = ["presence_kept", "connection_logs", *(PRESENCE_COLUMNS[role].presence_spans for role in roles)]
    if set(roles) == set(Role.values) and whiteboard.detail_removed_at is None:
        whiteboard.detail_removed_at = now
        fields.append("detail_removed_at")
    whiteboard.save(update_fields=fields)
    return counts


def removal_of(whiteboard: WhiteboardSession, role: str) -> dict | None:
    """When and why `role`'s raw detail was removed from `whiteboard` (None while it is held)."""
    return (whiteboard.presence_kept or {}).get(role)
