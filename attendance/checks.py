"""What admins check before decisions settle (issue 18): outage gaps and reconciliation flags, per session or listed.

The read side over the pure rules (`whiteboard.outages`, `attendance.reconciliation`): the staff
page (reports/checks/) and the session page call these, a list in a constant number of queries.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from attendance import services
from attendance.models import AttendanceSource, TutoringSession
from attendance.reconciliation import Flag, Observed, Thresholds, reconciliation_flags
from attendance.selectors import sessions_for_listing
from attendance.suggestions import SessionSuggestion
from whiteboard.board import board_engagement
from whiteboard.outages import OutageGap, outage_gaps

MAX_LISTED = 500  # sessions checked per page view: the newest first


def board_interactions(session: TutoringSession) -> dict[str, int] | None:
    """Strokes each role ("tutor", "student") drew on the session's board; None when nobody drew on it.

    A board nobody drew on says nothing about either participant (the lesson did not use it), so
    `no_interaction` flags someone who drew nothing only when the other one did. Reads
    `whiteboard.board` (listings fetch it with the whiteboard: no query per session).
    """
    if session.whiteboard is None:
        return None
    engagement = board_engagement(whiteboard=session.whiteboard)
    strokes = {role: e.strokes for role, e in engagement.items()}
    return strokes if any(strokes.values()) else None


def _overlap_seconds(gaps: list[OutageGap], start: datetime, end: datetime) -> float:
    return sum(max(0.0, (min(g.end, end) - max(g.start, start)).total_seconds()) for g in gaps)


def session_flags(
    session: TutoringSession,
    *,
    now: datetime,
    suggestion: SessionSuggestion | None = None,
    outages: list[OutageGap] | None = None,
    thresholds: Thresholds | None = None,
) -> tuple[Flag, ...]:
    """The reconciliation flags of one session's decision: none before it ends, without a whiteboard, or
    while nobody has decided (the assumed default is no one's mark). Pass what the caller already has."""
    if (
        now < session.scheduled_end
        or session.whiteboard_id is None
        or session.attendance_source == AttendanceSource.SYSTEM_DEFAULT
    ):
        return ()
    gaps = services.session_outages(session, now=now, known=outages)
    if suggestion is None:
        open_connections = getattr(session.whiteboard, "open_connections", None)
        suggestion = services.attendance_suggest(
            session=session, now=now, open_connections=open_connections, outages=gaps
        )
    interactions = board_interactions(session) or {}
    return reconciliation_flags(
        tutor_status=session.tutor_attendance_status,
        student_status=session.student_attendance_status,
        tutor=Observed(suggestion.tutor.metrics.active_seconds, interactions.get("tutor")),
        student=Observed(suggestion.student.metrics.active_seconds, interactions.get("student")),
        session_seconds=(session.scheduled_end - session.scheduled_start).total_seconds(),
        unknown_seconds=_overlap_seconds(gaps, session.scheduled_start, session.scheduled_end),
        thresholds=thresholds or Thresholds.from_settings(),
    )


@dataclass(frozen=True)
class FlaggedSession:
    session: TutoringSession
    flags: tuple[Flag, ...]


def flagged_sessions(*, start: datetime, end: datetime, now: datetime, code: str | None = None) -> list[FlaggedSession]:
    """Decided sessions scheduled in [start, end) whose decision disagrees with the evidence, newest first.

    At most MAX_LISTED sessions are checked; queries do not grow with their number.
    """
    sessions = list(
        sessions_for_listing(
            TutoringSession.objects.filter(
                scheduled_start__gte=start,
                scheduled_start__lt=end,
                scheduled_end__lte=now,
                whiteboard__isnull=False,
            ).exclude(attendance_source=AttendanceSource.SYSTEM_DEFAULT),
            with_evidence=True,
        ).order_by("-scheduled_start", "-pk")[:MAX_LISTED]
    )
    gaps = services.outages_covering(sessions, now=now)
    thresholds = Thresholds.from_settings()
    found = []
    for session in sessions:
        flags = session_flags(session, now=now, outages=gaps, thresholds=thresholds)
        if code:
            flags = tuple(f for f in flags if f.code == code)
        if flags:
            found.append(FlaggedSession(session, flags))
    return found


def gaps_between(*, start: datetime, end: datetime, now: datetime) -> list[OutageGap]:
    """The outage gaps overlapping [start, end), oldest first, for admins."""
    return outage_gaps(start=start, end=end, now=now)


def default_range(now: datetime, *, days: int) -> tuple[datetime, datetime]:
    return now - timedelta(days=days), now
