"""What each event says: the type an attendance change or a presence change is, and its payload.

The payloads are a published interface (docs/webhooks.md has the table): fields are only ever added.
Every payload is `{"type", "timestamp", "data"}` (the Standard Webhooks shape); `data.event_id` is the
event's id, the same in every endpoint's delivery; times are UTC ISO 8601 with a `Z`. Notes and
reasons people typed are not sent (a parent's reason can be about health): read the session
through the API for those.
"""

import uuid
from datetime import UTC, datetime

from attendance.models import AttendanceChange, AttendanceSource, HistoryEvent
from webhooks.models import EventType

SCHEMA_VERSION = 1


def utc_iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_id_new() -> str:
    return f"evt_{uuid.uuid4().hex}"


def change_event_type(change: AttendanceChange) -> str | None:
    """Which event an attendance change is; None for a move to another time (no attendance changed)."""
    if change.event == HistoryEvent.RESCHEDULE:
        return None
    if change.source == AttendanceSource.PARENT_REPORTED:
        return EventType.ABSENCE_REPORTED
    if change.source == AttendanceSource.ADMIN_OVERRIDE:
        return EventType.ATTENDANCE_OVERRIDDEN
    if change.actor_id is None and change.source == AttendanceSource.WHITEBOARD_AUTO:
        return EventType.ATTENDANCE_FINALIZED
    # A tutor's mark (by hand or accepting the suggestion), a tutor's cancellation, a parent's withdrawal.
    return EventType.ATTENDANCE_MARKED


def change_payload(change: AttendanceChange, *, event_type: str, event_id: str, tutor_id: int, student_id: int) -> dict:
    """The body of an attendance event (attendance.* and absence.reported)."""
    return {
        "type": event_type,
        "timestamp": utc_iso(change.changed_at),
        "data": {
            "event_id": event_id,
            "schema_version": SCHEMA_VERSION,
            "session_id": change.session_id,
            "tutor_id": tutor_id,
            "student_id": student_id,
            "change_id": change.pk,
            "kind": change.event,  # mark or cancel
            "tutor_status": change.new_tutor_status,
            "student_status": change.new_student_status,
            "source": change.source,
            "previous": {
                "tutor_status": change.old_tutor_status,
                "student_status": change.old_student_status,
                "source": change.previous_source,
            },
            "actor_id": change.actor_id,  # null: the system (the finalising job)
            "changed_at": utc_iso(change.changed_at),
        },
    }


def presence_payload(
    *,
    event_type: str,
    event_id: str,
    session_id: int,
    whiteboard_id: int,
    role: str,
    user_id: int,
    reason: str,
    at: datetime,
) -> dict:
    """The body of a presence event (presence.joined, presence.left)."""
    return {
        "type": event_type,
        "timestamp": utc_iso(at),
        "data": {
            "event_id": event_id,
            "schema_version": SCHEMA_VERSION,
            "session_id": session_id,
            "whiteboard_id": whiteboard_id,
            "role": role,  # tutor or student
            "user_id": user_id,
            "reason": reason,  # joined: connect; left: disconnect or timeout
            "at": utc_iso(at),
        },
    }
