"""What a page says about a session's attendance now: one set of rules for every viewer's page.

Tutors, students and parents see the same thing for the same session at the same moment:

- before the start: when it starts, and no status (nothing is decided yet), unless someone
  decided already (a parent's absence report, an admin);
- while it runs and nobody has decided: what the whiteboard shows so far per participant
  ("on the whiteboard", "left at 16:32", "not joined yet"), never an assumed "present";
- otherwise: the statuses and where they came from.
"""

from dataclasses import dataclass
from datetime import datetime

from django.template.defaultfilters import date as format_date
from django.utils import timezone

from attendance.labels import SOURCE_LABELS
from attendance.models import AttendanceSource, TutoringSession
from whiteboard.models import Role, Visibility

SCHEDULED, RUNNING, ENDED = "scheduled", "running", "ended"


@dataclass(frozen=True)
class LiveState:
    """One participant's presence so far, in words: a badge while the session runs."""

    role: str
    tone: str  # ok | warn | neutral, as the status badges
    text: str


@dataclass(frozen=True)
class AttendanceView:
    phase: str
    show_statuses: bool
    live: tuple[LiveState, ...]
    source_label: str


def session_phase(session: TutoringSession, *, now: datetime) -> str:
    if now < session.scheduled_start:
        return SCHEDULED
    return RUNNING if now < session.scheduled_end else ENDED


def live_state(role: str, status) -> LiveState:
    """`status` is `presence_snapshot(...)[role]`."""
    if status.connected:
        if status.visibility == Visibility.HIDDEN:
            return LiveState(role, "warn", "on the whiteboard · tab hidden")
        return LiveState(role, "ok", "on the whiteboard")
    if status.disconnected_at is not None:
        return LiveState(role, "warn", f"left at {format_date(timezone.localtime(status.disconnected_at), 'H:i')}")
    return LiveState(role, "neutral", "not joined yet")


def attendance_view(
    session: TutoringSession, *, now: datetime, snapshot: dict | None = None, roles=tuple(Role.values)
) -> AttendanceView:
    """What to show. `snapshot` is the whiteboard's presence (needed only while it runs undecided);
    `roles` are the participants the viewer is shown (parents: the student)."""
    phase = session_phase(session, now=now)
    decided = session.attendance_source != AttendanceSource.SYSTEM_DEFAULT
    live: tuple[LiveState, ...] = ()
    if phase == RUNNING and not decided and snapshot is not None:
        live = tuple(live_state(role, snapshot[role]) for role in roles)
    return AttendanceView(
        phase=phase,
        show_statuses=decided or phase == ENDED,
        live=live,
        source_label=SOURCE_LABELS[session.attendance_source],
    )
