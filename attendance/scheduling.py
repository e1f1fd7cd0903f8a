"""A tutor cancels or moves an upcoming session: the rules in `attendance.rules`, the write through the attendance service.

A cancellation is an attendance decision made ahead of time: tutor and student `excused`, source
`manual` (the tutor), the reason as its note, history event `cancel`; its billing outcome
(`cancelled_in_time` or `tutor_late_cancellation`) follows from when it was made. A move changes the
times and keeps the attendance, except that a parent's absence report (made for the old time) is
withdrawn; its history record (event `reschedule`) keeps both times. The student and their parents
are e-mailed like every attendance change: the pending e-mails are made in the change's transaction
(the `attendance_recorded` signal), their delivery queued after commit. History rows carry action
`other` (no suggestion was decided on) beside their event.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from attendance.models import AttendanceSource, AttendanceStatus, DecisionAction, HistoryEvent, TutoringSession
from attendance.rules import tutor_cancel_refusal, tutor_schedule_refusal
from attendance.services import attendance_change_record
from core.errors import DomainError

# A session longer than this is a typing mistake, not a lesson.
LONGEST_SESSION = timedelta(hours=12)


def _locked_for_tutor(session: TutoringSession, *, by) -> TutoringSession:
    """The session's row, locked, if `by` is its tutor; outsiders learn nothing of it."""
    locked = TutoringSession.objects.select_for_update().get(pk=session.pk)
    if by.pk != locked.tutor_id:
        if by.is_staff:
            raise DomainError(
                "Only the session's tutor cancels or moves it; admins override in admin.", "permission_denied"
            )
        raise DomainError("No such session.", "not_found")
    return locked


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Please give a reason: the student and their parents will read it.", "reason_required")
    return reason


def session_cancel(*, session: TutoringSession, by, reason: str, now: datetime | None = None) -> TutoringSession:
    """The tutor cancels an upcoming session: both excused, source `manual`, history event `cancel`."""
    reason = _reason(reason)
    with transaction.atomic():
        # Under the row lock, so a parent's report or a second cancellation cannot slip in between.
        locked = _locked_for_tutor(session, by=by)
        now = now or timezone.now()
        refusal = tutor_cancel_refusal(locked, now=now)
        if refusal is not None:
            raise refusal
        return attendance_change_record(
            session=locked,
            by=by,
            source=AttendanceSource.MANUAL,
            tutor_status=AttendanceStatus.EXCUSED,
            student_status=AttendanceStatus.EXCUSED,
            notes=reason,
            now=now,
            # No suggestion was decided on: agreement reports and the calibration leave it out.
            action=DecisionAction.OTHER,
            event=HistoryEvent.CANCEL,
        )


def session_reschedule(
    *, session: TutoringSession, by, start: datetime, end: datetime, reason: str, now: datetime | None = None
) -> TutoringSession:
    """The tutor moves an upcoming session to a later time (a parent's absence report for the old time is withdrawn)."""
    reason = _reason(reason)
    now = now or timezone.now()
    if start <= now:
        raise DomainError("The new time must be in the future.", "invalid")
    if not start < end <= start + LONGEST_SESSION:
        raise DomainError("The session must end after it starts, within 12 hours.", "invalid")
    with transaction.atomic():
        locked = _locked_for_tutor(session, by=by)
        refusal = tutor_schedule_refusal(locked, now=now)
        if refusal is not None:
            raise refusal
        if (locked.scheduled_start, locked.scheduled_end) == (start, end):
            raise DomainError("That is the session's time already.", "invalid")
        source, tutor_status, student_status = AttendanceSource.SYSTEM_DEFAULT, None, None
        if locked.attendance_source == AttendanceSource.PARENT_REPORTED:
            # As a withdrawal does: back to what the report replaced, read from the report's own record.
            report = locked.attendance_changes.order_by("-id").first()
            source = report.previous_source
            tutor_status, student_status = report.old_tutor_status, report.old_student_status
        moved = {
            "from": {"start": locked.scheduled_start.isoformat(), "end": locked.scheduled_end.isoformat()},
            "to": {"start": start.isoformat(), "end": end.isoformat()},
        }
        locked.scheduled_start, locked.scheduled_end = start, end
        locked.finalize_checked_at = None  # it has not happened yet: the finalising job looks again after the new end
        return attendance_change_record(
            session=locked,
            by=by,
            source=source,
            tutor_status=tutor_status,
            student_status=student_status,
            notes=reason,
            now=now,
            action=DecisionAction.OTHER,
            event=HistoryEvent.RESCHEDULE,
            rescheduled=moved,
            also_saved=("scheduled_start", "scheduled_end", "finalize_checked_at"),
        )
