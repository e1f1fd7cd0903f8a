"""Attendance decisions: suggest from evidence, mark with precedence, keep every change.

Every door (API, pages, admin, the finalising job) calls these functions; none writes
attendance fields itself. Precedence, in one place:

- nothing but an admin changes an `admin_override`;
- tutors mark from the session's start until ATTENDANCE_MARKING_WINDOW_DAYS after its end;
- the finalising job only touches sessions still at `system_default`;
- a parent reports their child's absence (`parent_reported`) only over the assumed default, and
  withdraws it (back to `system_default`), only before the session starts.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from attendance.models import AttendanceChange, AttendanceSource, AttendanceStatus, TutoringSession
from attendance.signals import attendance_changed
from attendance.suggestions import Evidence, Policy, SessionSuggestion, Span, suggest_session
from core.errors import DomainError
from families.models import GuardianStudent
from whiteboard.models import Role
from whiteboard.presence import parse_time
from whiteboard.services import presence_snapshot

MARKABLE_STATUSES = set(AttendanceStatus.values)


# --- suggestion ---------------------------------------------------------------


def participant_evidence(session: TutoringSession, *, now: datetime) -> dict[str, Evidence | None]:
    """Presence evidence of tutor and student, as plain data for the suggestion rules."""
    whiteboard = session.whiteboard
    if whiteboard is None:
        return {Role.TUTOR: None, Role.STUDENT: None}
    snapshot = presence_snapshot(whiteboard=whiteboard, now=now)
    evidence = {}
    for role in Role.values:
        spans = tuple(
            Span(
                start=parse_time(span["start"]),
                end=parse_time(span["end"]),
                hidden=tuple((parse_time(s), parse_time(e)) for s, e in span["hidden"]),
            )
            for span in snapshot[role].spans
        )
        timeouts = sum(1 for e in whiteboard.connection_logs if e["event"] == "timeout" and e["role"] == role)
        evidence[role] = Evidence(spans=spans, timeouts=timeouts, connected_now=snapshot[role].connected)
    return evidence


def attendance_suggest(*, session: TutoringSession, now: datetime | None = None) -> SessionSuggestion:
    """What the evidence says about both participants' attendance, as of `now`."""
    now = now or timezone.now()
    evidence = participant_evidence(session, now=now)
    return suggest_session(
        scheduled_start=session.scheduled_start,
        scheduled_end=session.scheduled_end,
        tutor=evidence[Role.TUTOR],
        student=evidence[Role.STUDENT],
        now=now,
        policy=Policy.from_settings(),
    )


def suggestion_confidence(suggestion: SessionSuggestion) -> float:
    """A session's suggestion is only as sure as its less sure participant."""
    return min(suggestion.tutor.confidence, suggestion.student.confidence)


def suggestion_is_applicable(suggestion: SessionSuggestion) -> bool:
    return suggestion.final and MARKABLE_STATUSES.issuperset({suggestion.tutor.status, suggestion.student.status})


# --- marking ------------------------------------------------------------------


def _marking_source(user) -> str:
    return AttendanceSource.ADMIN_OVERRIDE if user.is_staff else AttendanceSource.MANUAL


# Only parents set these: a report, and its withdrawal back to the assumed default. Tutors and
# admins mark with their own sources, and the finalising job with `whiteboard_auto`.
PARENT_SOURCES = {AttendanceSource.PARENT_REPORTED, AttendanceSource.SYSTEM_DEFAULT}


def parent_change_refusal(session: TutoringSession, *, source: str, now: datetime) -> DomainError | None:
    """Why a parent may not make this change now, or None if they may.

    Pure, so the family page can offer only what will be accepted; `_check_may_mark` raises it.
    `source` is `parent_reported` to report an absence, `system_default` to withdraw the report.
    """
    if now >= session.scheduled_start:
        return DomainError(
            "The session has started, so its attendance can no longer be changed here; please contact the tutor.",
            "too_late",
        )
    current = session.attendance_source
    if current == AttendanceSource.ADMIN_OVERRIDE:
        return DomainError(
            "An admin has overridden this session's attendance; only an admin can change it now.",
            "admin_override_locked",
        )
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


def _check_may_mark(session: TutoringSession, *, by, source: str, now: datetime) -> None:
    """Raise DomainError unless `by` may change this session's attendance now, with this source.

    Who `by` is to the session is settled first: someone outside it learns nothing of its state.
    """
    if source == AttendanceSource.ADMIN_OVERRIDE:
        if by is None or not by.is_staff:
            raise DomainError("Only an admin can override attendance.", "permission_denied")
        return
    if by is not None:
        if source in PARENT_SOURCES:
            is_theirs = GuardianStudent.objects.filter(guardian_id=by.pk, student_id=session.student_id).exists()
        else:
            is_theirs = by.pk == session.tutor_id or by.is_staff
        if not is_theirs:
            raise DomainError("No such session.", "not_found")
    if session.attendance_source == AttendanceSource.ADMIN_OVERRIDE:
        raise DomainError(
            "An admin has overridden this session's attendance; only an admin can change it now.",
            "admin_override_locked",
        )
    if by is None:  # the system (finalising job); it decides itself which sessions to touch
        return
    if source in PARENT_SOURCES:
        refusal = parent_change_refusal(session, source=source, now=now)
        if refusal is not None:
            raise refusal
        return
    if now < session.scheduled_start:
        raise DomainError("The session has not started yet; attendance can be marked from its start.", "not_started")
    deadline = session.scheduled_end + timedelta(days=settings.ATTENDANCE_MARKING_WINDOW_DAYS)
    if now > deadline:
        raise DomainError(
            f"Attendance can be marked until {settings.ATTENDANCE_MARKING_WINDOW_DAYS} days after the session; "
            "ask an admin to change it.",
            "marking_window_closed",
        )


def _changes_nothing(locked: TutoringSession, *, source: str, tutor_status, student_status, notes: str) -> bool:
    return (
        source == locked.attendance_source
        and (tutor_status or locked.tutor_attendance_status) == locked.tutor_attendance_status
        and (student_status or locked.student_attendance_status) == locked.student_attendance_status
        and notes == locked.attendance_notes
    )


def attendance_mark(
    *,
    session: TutoringSession,
    by,
    source: str,
    tutor_status: str | None = None,
    student_status: str | None = None,
    notes: str = "",
    suggestion: dict | None = None,
    now: datetime | None = None,
) -> TutoringSession:
    """Set the attendance of a session and append the change to its history.

    `by` is the acting user (None for the system). A status left as None keeps its current value.
    """
    if tutor_status is None and student_status is None:
        raise DomainError("Give at least one status to set.", "invalid")
    for value in (tutor_status, student_status):
        if value is not None and value not in MARKABLE_STATUSES:
            raise DomainError(f"Unknown attendance status {value!r}.", "invalid")
    if source == AttendanceSource.ADMIN_OVERRIDE and not notes.strip():
        raise DomainError("An admin override needs a note saying why.", "notes_required")

    with transaction.atomic():
        # The row lock orders concurrent marks: each one reads the state the previous one
        # committed, so history is complete and in order and no update is lost.
        locked = TutoringSession.objects.select_for_update().get(pk=session.pk)
        now = now or timezone.now()
        _check_may_mark(locked, by=by, source=source, now=now)
        if _changes_nothing(
            locked, source=source, tutor_status=tutor_status, student_status=student_status, notes=notes
        ):
            return locked  # the same mark again: no history row that says nothing
        change = AttendanceChange(
            session=locked,
            changed_at=now,
            actor=by,
            source=source,
            previous_source=locked.attendance_source,
            old_tutor_status=locked.tutor_attendance_status,
            old_student_status=locked.student_attendance_status,
            new_tutor_status=tutor_status or locked.tutor_attendance_status,
            new_student_status=student_status or locked.student_attendance_status,
            notes=notes,
            suggestion=suggestion,
        )
        locked.tutor_attendance_status = change.new_tutor_status
        locked.student_attendance_status = change.new_student_status
        locked.attendance_source = source
        locked.attendance_marked_by = by
        locked.attendance_marked_at = now
        locked.attendance_notes = notes
        locked.save(
            update_fields=[
                "tutor_attendance_status",
                "student_attendance_status",
                "attendance_source",
                "attendance_marked_by",
                "attendance_marked_at",
                "attendance_notes",
            ]
        )
        change.save(force_insert=True)
        # Side effects (e-mail) only once the change is durable, and never for a rolled-back one.
        transaction.on_commit(lambda: attendance_changed.send(sender=AttendanceChange, change=change))
    return locked


def attendance_mark_by_hand(
    *,
    session: TutoringSession,
    by,
    tutor_status: str | None,
    student_status: str | None,
    notes: str = "",
    now: datetime | None = None,
) -> TutoringSession:
    """A person marks attendance: the tutor (`manual`) or an admin (`admin_override`).

    The suggestion standing at that moment is kept with the change, so reports can tell
    how often people agreed with it.
    """
    now = now or timezone.now()
    suggestion = attendance_suggest(session=session, now=now)
    return attendance_mark(
        session=session,
        by=by,
        source=_marking_source(by),
        tutor_status=tutor_status,
        student_status=student_status,
        notes=notes,
        suggestion=suggestion.to_dict() if suggestion_is_applicable(suggestion) else None,
        now=now,
    )


def attendance_apply_suggestion(
    *, session: TutoringSession, by, notes: str = "", now: datetime | None = None
) -> TutoringSession:
    """Accept what the evidence suggests (source `whiteboard_auto`, or `admin_override` for an admin)."""
    now = now or timezone.now()
    suggestion = attendance_suggest(session=session, now=now)
    if not suggestion.final:
        raise DomainError("The session is still running; its suggestion is provisional.", "suggestion_not_final")
    if not suggestion_is_applicable(suggestion):
        raise DomainError(
            "There is no whiteboard evidence to suggest attendance from; mark it by hand.", "no_suggestion"
        )
    source = AttendanceSource.ADMIN_OVERRIDE if by is not None and by.is_staff else AttendanceSource.WHITEBOARD_AUTO
    return attendance_mark(
        session=session,
        by=by,
        source=source,
        tutor_status=suggestion.tutor.status,
        student_status=suggestion.student.status,
        notes=notes,
        # Marked as applied: a mark by hand keeps the standing suggestion too, and history tells them apart.
        suggestion={**suggestion.to_dict(), "applied": True},
        now=now,
    )


# --- finalising job -----------------------------------------------------------


@dataclass
class FinalizeReport:
    applied: int = 0
    left_for_tutor: int = 0
    skipped: int = 0  # taken by a concurrent run, or marked meanwhile


def attendance_finalize(
    *, now: datetime | None = None, progress: Callable[[int, int], None] | None = None
) -> FinalizeReport:
    """Settle ended sessions nobody marked: apply sure suggestions, leave the rest for the tutor.

    Safe to run concurrently, on several machines: each session is decided under its row
    lock (others skip it) and re-checked there, so it is finalised exactly once.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.ATTENDANCE_FINALIZE_AFTER_MINUTES)
    policy = Policy.from_settings()
    candidates = list(
        TutoringSession.objects.filter(
            attendance_source=AttendanceSource.SYSTEM_DEFAULT,
            finalize_checked_at__isnull=True,
            scheduled_end__lte=cutoff,
        )
        .order_by("scheduled_end")
        .values_list("pk", flat=True)
    )
    report = FinalizeReport()
    for done, pk in enumerate(candidates, start=1):
        with transaction.atomic():
            session = (
                TutoringSession.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("whiteboard")
                .filter(pk=pk, attendance_source=AttendanceSource.SYSTEM_DEFAULT, finalize_checked_at__isnull=True)
                .first()
            )
            if session is None:
                report.skipped += 1
            else:
                suggestion = attendance_suggest(session=session, now=now)
                if (
                    suggestion_is_applicable(suggestion)
                    and suggestion_confidence(suggestion) >= policy.auto_apply_confidence
                ):
                    attendance_mark(
                        session=session,
                        by=None,
                        source=AttendanceSource.WHITEBOARD_AUTO,
                        tutor_status=suggestion.tutor.status,
                        student_status=suggestion.student.status,
                        notes="Applied automatically: the whiteboard evidence was clear.",
                        suggestion={**suggestion.to_dict(), "applied": True},
                        now=now,
                    )
                    report.applied += 1
                else:
                    TutoringSession.objects.filter(pk=pk).update(finalize_checked_at=now)
                    report.left_for_tutor += 1
        if progress:
            progress(done, len(candidates))
    return report
