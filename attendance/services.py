"""Attendance decisions: suggest from evidence, mark with precedence, keep every change.

Every door (API, pages, admin, the finalising job) calls these functions; none writes
attendance fields itself. Precedence, in one place (the pure checks are in `attendance.rules`):

- nothing but an admin changes an `admin_override`;
- tutors mark from the session's start until ATTENDANCE_MARKING_WINDOW_DAYS after its end;
- the finalising job only touches sessions still at `system_default`;
- a parent reports their child's absence (`parent_reported`) only over the assumed default, and
  withdraws it (back to `system_default`), only before the session starts.

Long because: suggestion, marking and the finaliser share the one write and its precedence (about
450 lines); the finaliser is the next piece to move out, to a module of its own.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from attendance.calibration import calibration_current
from attendance.guardians import is_guardian
from attendance.models import (
    ATTENDANCE_FIELDS,
    AttendanceChange,
    AttendanceSource,
    AttendanceStatus,
    DecisionAction,
    HistoryEvent,
    TutoringSession,
)
from attendance.rules import (
    PARENT_SOURCES,
    admin_override_refusal,
    parent_change_refusal,
    tutor_change_refusal,
)
from attendance.signals import attendance_changed, attendance_recorded
from attendance.streaks import streaks_after_change
from attendance.suggestions import Evidence, Policy, SessionSuggestion, Span, suggest_session
from core.errors import DomainError
from whiteboard.board import board_engagement
from whiteboard.models import Role
from whiteboard.outages import OutageGap, outage_gaps
from whiteboard.presence import parse_time
from whiteboard.selectors import presence_snapshot

MARKABLE_STATUSES = set(AttendanceStatus.values)


# --- suggestion ---------------------------------------------------------------


def participant_evidence(
    session: TutoringSession, *, now: datetime, open_connections: list | None = None
) -> dict[str, Evidence | None]:
    """Presence evidence of tutor and student, as plain data for the suggestion rules.

    Pass the whiteboard's `open_connections` when a list already fetched them (no query per session).
    """
    whiteboard = session.whiteboard
    if whiteboard is None:
        return {Role.TUTOR: None, Role.STUDENT: None}
    snapshot = presence_snapshot(whiteboard=whiteboard, now=now, open_connections=open_connections)
    drew = {role: asdict(e) for role, e in board_engagement(whiteboard=whiteboard).items()}  # seconds, strokes
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
        evidence[role] = Evidence(spans=spans, timeouts=timeouts, connected_now=snapshot[role].connected, **drew[role])
    return evidence


def session_outages(
    session: TutoringSession, *, now: datetime, known: list[OutageGap] | None = None
) -> list[OutageGap]:
    """The outage gaps (whiteboard/outages.py) overlapping the session's scheduled time: presence then is unknown.

    `known`: gaps already read for a stretch covering this session (a list, the finaliser): no query.
    Presence outside the scheduled time decides nothing, so gaps only there do not count.
    """
    if session.whiteboard_id is None:
        return []
    if known is None:
        known = outage_gaps(start=session.scheduled_start, end=session.scheduled_end, now=now)
    return [gap for gap in known if gap.overlaps(session.scheduled_start, session.scheduled_end)]


def outages_covering(sessions: list[TutoringSession], *, now: datetime) -> list[OutageGap]:
    """The outage gaps overlapping any of `sessions` (a page of a list), in one query; none without whiteboards."""
    timed = [s for s in sessions if s.whiteboard_id is not None]
    if not timed:
        return []
    return outage_gaps(start=min(s.scheduled_start for s in timed), end=max(s.scheduled_end for s in timed), now=now)


def _local_clock(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%H:%M")


def attendance_suggest(
    *,
    session: TutoringSession,
    now: datetime | None = None,
    open_connections: list | None = None,
    outages: list[OutageGap] | None = None,
) -> SessionSuggestion:
    """What the evidence says about both participants' attendance, as of `now`.

    Once raw detail is removed (retention), the suggestion kept then. `outages`: the session's outage
    gaps when the caller already has them (`session_outages`); else one query.
    """
    if kept := session.whiteboard and session.whiteboard.presence_kept.get("suggestion"):
        return SessionSuggestion.from_dict(kept)
    now = now or timezone.now()
    evidence = participant_evidence(session, now=now, open_connections=open_connections)
    gaps = session_outages(session, now=now, known=outages)
    return suggest_session(
        scheduled_start=session.scheduled_start,
        scheduled_end=session.scheduled_end,
        tutor=evidence[Role.TUTOR],
        student=evidence[Role.STUDENT],
        now=now,
        policy=Policy.from_settings(),
        outages=tuple((gap.start, gap.end) for gap in gaps),
        clock=_local_clock,
    )


def suggestion_confidence(suggestion: SessionSuggestion) -> float:
    """A session's suggestion is only as sure as its less sure participant."""
    return min(suggestion.tutor.confidence, suggestion.student.confidence)


def suggestion_is_applicable(suggestion: SessionSuggestion) -> bool:
    return suggestion.final and MARKABLE_STATUSES.issuperset({suggestion.tutor.status, suggestion.student.status})


# --- the one write -------------------------------------------------------------


def session_save(*, session: TutoringSession, fields: list[str] | tuple[str, ...] | None = None) -> TutoringSession:
    """Save a session and mark it changed (`updated_at`): every write of a session passes here.

    Marks, overrides, parent reports and withdrawals, the finaliser, cancellations, moves,
    disputes and admin's edit form all call it, so the list API's `changed_since` sees each
    change. `fields` None saves every field (admin's form). Wall-clock time, not a caller's `now`:
    a sync follows the order writes really happened in.
    """
    session.updated_at = timezone.now()
    if fields is None:
        session.save()
    else:
        session.save(update_fields=[*fields, "updated_at"])
    return session


# --- marking ------------------------------------------------------------------


def _marking_source(user) -> str:
    return AttendanceSource.ADMIN_OVERRIDE if user.is_staff else AttendanceSource.MANUAL


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
            is_theirs = is_guardian(user_id=by.pk, student_id=session.student_id)
        else:
            is_theirs = by.pk == session.tutor_id or by.is_staff
        if not is_theirs:
            raise DomainError("No such session.", "not_found")
    refusal = admin_override_refusal(session)
    if refusal is None and by is not None:  # the system (finalising job, by None) decides itself what to touch
        if source in PARENT_SOURCES:
            refusal = parent_change_refusal(session, source=source, now=now)
        else:
            refusal = tutor_change_refusal(session, now=now)
    if refusal is not None:
        raise refusal


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
    action: str = DecisionAction.OTHER,
    now: datetime | None = None,
) -> TutoringSession:
    """Set the attendance of a session and append the change to its history.

    `by` is the acting user (None for the system). A status left as None keeps its current value.
    `action` says what was done with the suggestion (accepted it, or chose statuses): reports
    count only chosen statuses as agreement or disagreement.
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
        return attendance_change_record(
            session=locked,
            by=by,
            source=source,
            tutor_status=tutor_status,
            student_status=student_status,
            notes=notes,
            suggestion=suggestion,
            action=action,
            now=now,
        )


def attendance_change_record(
    *,
    session: TutoringSession,
    by,
    source: str,
    tutor_status: str | None,
    student_status: str | None,
    notes: str,
    now: datetime,
    suggestion: dict | None = None,
    action: str = DecisionAction.OTHER,
    event: str = HistoryEvent.MARK,
    rescheduled: dict | None = None,
    also_saved: tuple[str, ...] = (),
) -> TutoringSession:
    """Write a change the caller has checked: the session's fields, its history record, the announcement.

    The caller holds the session's row lock (`session` is the locked row) and has applied the rules;
    `also_saved` names other fields the caller set on it (a move's times).
    """
    change = AttendanceChange(
        session=session,
        changed_at=now,
        actor=by,
        source=source,
        previous_source=session.attendance_source,
        old_tutor_status=session.tutor_attendance_status,
        old_student_status=session.student_attendance_status,
        new_tutor_status=tutor_status or session.tutor_attendance_status,
        new_student_status=student_status or session.student_attendance_status,
        notes=notes,
        suggestion=suggestion,
        action=action,
        event=event,
        rescheduled=rescheduled,
    )
    session.tutor_attendance_status = change.new_tutor_status
    session.student_attendance_status = change.new_student_status
    session.attendance_source = source
    session.attendance_marked_by = by
    session.attendance_marked_at = now
    session.attendance_notes = notes
    session_save(session=session, fields=(*ATTENDANCE_FIELDS, *also_saved))
    change.save(force_insert=True)
    # What must be durable with the change (the e-mails it calls for) is written with it; what
    # happens outside the database only once it commits, and never for a rolled-back one.
    attendance_recorded.send(sender=AttendanceChange, change=change)
    transaction.on_commit(lambda: attendance_changed.send(sender=AttendanceChange, change=change))
    # Patterns (runs of absences, lateness, no-shows) are read from committed attendance.
    transaction.on_commit(lambda: streaks_after_change(change=change), robust=True)
    return session


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
        action=_chose_action(tutor_status=tutor_status, student_status=student_status),
        now=now,
    )


def _chose_action(*, tutor_status: str | None, student_status: str | None) -> str:
    if tutor_status is not None and student_status is not None:
        return DecisionAction.CHOSE
    return DecisionAction.CHOSE_TUTOR if tutor_status is not None else DecisionAction.CHOSE_STUDENT


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
        # Marked as applied too (h15's history reads it on rows from before `action`).
        suggestion={**suggestion.to_dict(), "applied": True},
        action=DecisionAction.ACCEPTED,
        now=now,
    )


# --- finalising job -----------------------------------------------------------


@dataclass
class FinalizeReport:
    applied: int = 0
    left_for_tutor: int = 0
    skipped: int = 0  # taken by a concurrent run, or marked meanwhile
    # Left for the tutor because the server heard nothing from anyone during the session (outage gaps):
    # session id -> why, in words. Counted in `left_for_tutor` too.
    presence_unknown: dict[int, str] = field(default_factory=dict)


def attendance_finalize(
    *, now: datetime | None = None, progress: Callable[[int, int], None] | None = None
) -> FinalizeReport:
    """Settle ended sessions nobody marked: apply sure suggestions, leave the rest for the tutor.

    "Sure" is the calibrated confidence (attendance.calibration: the fitted probability that a
    person keeps the status; the rule confidence while too few decisions were fitted), the
    lower of tutor's and student's, at least `auto_apply_confidence`.

    Never a session whose scheduled time overlaps an outage gap (whiteboard/outages.py): presence the
    server could not hear is unknown, so a person decides; the report says which and why.

    Safe to run concurrently, on several machines: each session is decided under its row
    lock (others skip it) and re-checked there, so it is finalised exactly once.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.ATTENDANCE_FINALIZE_AFTER_MINUTES)
    policy = Policy.from_settings()
    calibrator = calibration_current()
    candidates = list(
        TutoringSession.objects.filter(
            attendance_source=AttendanceSource.SYSTEM_DEFAULT,
            finalize_checked_at__isnull=True,
            scheduled_end__lte=cutoff,
        )
        .order_by("scheduled_end")
        .values_list("pk", "scheduled_start", "scheduled_end")
    )
    # The gaps of every candidate's time, read once (one query), not per session.
    gaps = (
        outage_gaps(start=min(c[1] for c in candidates), end=max(c[2] for c in candidates), now=now)
        if candidates
        else []
    )
    candidates = [pk for pk, _, _ in candidates]
    report = FinalizeReport()
    for done, pk in enumerate(candidates, start=1):
        with transaction.atomic():
            session = (
                TutoringSession.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("whiteboard", "whiteboard__board")
                .filter(pk=pk, attendance_source=AttendanceSource.SYSTEM_DEFAULT, finalize_checked_at__isnull=True)
                .first()
            )
            if session is None:
                report.skipped += 1
            else:
                unknown = session_outages(session, now=now, known=gaps)
                suggestion = None if unknown else attendance_suggest(session=session, now=now, outages=unknown)
                if unknown:
                    TutoringSession.objects.filter(pk=pk).update(finalize_checked_at=now)
                    report.left_for_tutor += 1
                    report.presence_unknown[pk] = "; ".join(
                        f"the server heard nothing from anyone from {gap.start:%Y-%m-%d %H:%M} to {gap.end:%H:%M} UTC"
                        for gap in unknown
                    )
                elif (
                    suggestion is not None
                    and suggestion_is_applicable(suggestion)
                    and calibrator.session_confidence(suggestion) >= policy.auto_apply_confidence
                ):
                    attendance_mark(
                        session=session,
                        by=None,
                        source=AttendanceSource.WHITEBOARD_AUTO,
                        tutor_status=suggestion.tutor.status,
                        student_status=suggestion.student.status,
                        notes="Applied automatically: the whiteboard evidence was clear.",
                        # Marked as applied too (h15's history reads it on rows from before `action`).
                        suggestion={**suggestion.to_dict(), "applied": True},
                        action=DecisionAction.ACCEPTED,
                        now=now,
                    )
                    report.applied += 1
                else:
                    TutoringSession.objects.filter(pk=pk).update(finalize_checked_at=now)
                    report.left_for_tutor += 1
        if progress:
            progress(done, len(candidates))
    return report
