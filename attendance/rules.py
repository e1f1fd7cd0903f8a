"""Who may change a session's attendance, and when: pure functions over a session and a time.

The marking service raises what these return, under the session's row lock; pages call the same
functions to offer only what will be accepted, and the selectors use the same marking window.
"""

from datetime import datetime, timedelta

from django.conf import settings

from attendance.models import AttendanceSource, TutoringSession
from core.errors import DomainError

# Only parents set these: a report, and its withdrawal back to the assumed default. Tutors and
# admins mark with their own sources, and the finalising job with `whiteboard_auto`.
PARENT_SOURCES = {AttendanceSource.PARENT_REPORTED, AttendanceSource.SYSTEM_DEFAULT}


def marking_window() -> timedelta:
    """How long after its end a tutor may still mark a session (ATTENDANCE_MARKING_WINDOW_DAYS)."""
    return timedelta(days=settings.ATTENDANCE_MARKING_WINDOW_DAYS)


def admin_override_refusal(session: TutoringSession) -> DomainError | None:
    """An admin override is final for everyone but admins."""
    if session.attendance_source == AttendanceSource.ADMIN_OVERRIDE:
        return DomainError(
            "An admin has overridden this session's attendance; only an admin can change it now.",
            "admin_override_locked",
        )
    return None


def tutor_change_refusal(session: TutoringSession, *, now: datetime) -> DomainError | None:
    """Why the tutor may not mark this session now (by hand or by accepting the suggestion), or None.

    Admins are not bound by it: their change is an admin override, allowed at any time.
    """
    refusal = admin_override_refusal(session)
    if refusal is not None:
        return refusal
    if now < session.scheduled_start:
        return DomainError("The session has not started yet; attendance can be marked from its start.", "not_started")
    if now > session.scheduled_end + marking_window():
        return DomainError(
            f"Attendance can be marked until {settings.ATTENDANCE_MARKING_WINDOW_DAYS} days after the session; "
            "ask an admin to change it.",
            "marking_window_closed",
        )
    return None


def parent_change_refusal(session: TutoringSession, *, source: str, now: datetime) -> DomainError | None:
    """Why a parent may not make this change now, or None if they may.

    Pure, so the family page can offer only what will be accepted; the marking service raises it.
    `source` is `parent_reported` to report an absence, `system_default` to withdraw the report.
    """
    if now >= session.scheduled_start:
        return DomainError(
            "The session has started, so its attendance can no longer be changed here; please contact the tutor.",
            "too_late",
        )
    refusal = admin_override_refusal(session)
    if refusal is not None:
        return refusal
    current = session.attendance_source
    if source == AttendanceSource.PARENT_REPORTED:
        if current == AttendanceSource.PARENT_REPORTED:
            return DomainError("An absence has already been reported for this session.", "already_reported")
        if current != AttendanceSource.SYSTEM_DEFAULT:
            return DomainError(
                "The tutor has already marked attendance for this session; a parent cannot change it.",
                "already_marked",
            )
        return None
    if source == AttendanceSource.SYSTEM_DEFAULT:
        if current != AttendanceSource.PARENT_REPORTED:
            return DomainError("There is no absence report to withdraw for this session.", "not_reported")
        return None
    return DomainError("A parent can only report an absence or withdraw the report.", "permission_denied")
