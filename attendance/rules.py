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


def dispute_window() -> timedelta:
    """How long after a decision the tutor or a parent may contest it (ATTENDANCE_DISPUTE_WINDOW_HOURS)."""
    return timedelta(hours=settings.ATTENDANCE_DISPUTE_WINDOW_HOURS)


def decided_at(session: TutoringSession) -> datetime | None:
    """When the standing decision was made; None while nothing is decided (the assumed default)."""
    if session.attendance_source == AttendanceSource.SYSTEM_DEFAULT:
        return None
    return session.attendance_marked_at


def dispute_open_until(session: TutoringSession) -> datetime | None:
    decided = decided_at(session)
    return None if decided is None else decided + dispute_window()


def decision_locked(session: TutoringSession, *, now: datetime) -> bool:
    """A decision locks once both the marking window and its dispute window have passed; then only admins change it.

    An undecided session has no decision to lock: after the marking window it is closed without one.
    """
    until = dispute_open_until(session)
    return until is not None and now > session.scheduled_end + marking_window() and now > until


def _locked_refusal(session: TutoringSession, *, now: datetime) -> DomainError | None:
    if decision_locked(session, now=now):
        return DomainError(
            "This decision is locked: the marking and dispute windows have passed; only an admin can change it.",
            "decision_locked",
        )
    return None


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
    refusal = _locked_refusal(session, now=now)
    if refusal is not None:
        return refusal
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


def tutor_schedule_refusal(session: TutoringSession, *, now: datetime) -> DomainError | None:
    """Why the tutor may not cancel or move this session now, or None: only upcoming sessions nobody has decided.

    A parent's absence report does not stop a move (the report was for the old time; moving withdraws it)
    but does stop a cancellation (the family cancelled first: `late_cancellation` or `cancelled_in_time`).
    """
    refusal = admin_override_refusal(session)
    if refusal is not None:
        return refusal
    if now >= session.scheduled_start:
        return DomainError("Only an upcoming session can be cancelled or moved.", "already_started")
    if session.attendance_source not in PARENT_SOURCES:
        return DomainError("This session has been cancelled already.", "already_cancelled")
    return None


def tutor_cancel_refusal(session: TutoringSession, *, now: datetime) -> DomainError | None:
    refusal = tutor_schedule_refusal(session, now=now)
    if refusal is None and session.attendance_source == AttendanceSource.PARENT_REPORTED:
        return DomainError("A parent has already reported the student absent for this session.", "already_reported")
    return refusal


def dispute_refusal(session: TutoringSession, *, by_id: int, now: datetime, open_dispute: bool) -> DomainError | None:
    """Why user `by_id` may not contest this session's decision now, or None (its tutor and the student's parents may).

    Nobody contests their own decision: a tutor changes their own mark while the marking window is open.
    """
    until = dispute_open_until(session)
    if until is None:
        return DomainError("Nothing has been decided for this session yet.", "nothing_to_dispute")
    if session.attendance_marked_by_id == by_id:
        return DomainError("You made this decision yourself; it cannot be contested by you.", "own_decision")
    refusal = _locked_refusal(session, now=now)
    if refusal is not None:
        return refusal
    if now > until:
        return DomainError(
            f"Decisions can be contested for {settings.ATTENDANCE_DISPUTE_WINDOW_HOURS} hours; ask an admin.",
            "dispute_window_closed",
        )
    if open_dispute:
        return DomainError("This decision is already contested; an admin will settle it.", "already_disputed")
    return None
