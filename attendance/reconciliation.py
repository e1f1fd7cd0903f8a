"""Reconciliation flags: where a decision and the whiteboard's evidence disagree enough for an admin to look.

Pure (no database, no Django at import): `reconciliation_flags` takes the decided statuses and what
the whiteboard measured, and names each disagreement in plain words. `attendance.checks` feeds it
from sessions for the staff page (reports/checks/) and the session page. Three kinds:

- `mark_disagrees`: marked there (present, late, left early) but on the whiteboard for less than
  ATTENDANCE_RECONCILE_PRESENT_UNDER of the session; or marked absent but there for more than
  ATTENDANCE_RECONCILE_ABSENT_OVER. Time the server could not hear (outage gaps) is counted in the
  mark's favour: it is unknown, never evidence against it;
- `no_interaction`: marked there with no presence at all, or (once the board counts strokes) present
  but drew nothing: `Observed.interactions` is that hook, None while it is not measured;
- `both_absent_marked_delivered`: both marked there, neither on the whiteboard: billed as delivered
  (attendance/billing.py) with nothing to show for it. It replaces the two per-person flags.
"""

from __future__ import annotations

from dataclasses import dataclass

from attendance.statuses import ABSENT, ATTENDED

MARK_DISAGREES = "mark_disagrees"
NO_INTERACTION = "no_interaction"
BOTH_ABSENT_MARKED_DELIVERED = "both_absent_marked_delivered"
FLAG_CODES = (MARK_DISAGREES, NO_INTERACTION, BOTH_ABSENT_MARKED_DELIVERED)
FLAG_LABELS = {
    MARK_DISAGREES: "Mark disagrees with the whiteboard",
    NO_INTERACTION: "Marked there, no interaction",
    BOTH_ABSENT_MARKED_DELIVERED: "Both absent, marked delivered",
}


@dataclass(frozen=True)
class Thresholds:
    present_under: float = 0.25  # share of the session
    absent_over: float = 0.5

    @classmethod
    def from_settings(cls) -> Thresholds:
        from django.conf import settings  # here, so the module imports without Django configured

        return cls(settings.ATTENDANCE_RECONCILE_PRESENT_UNDER, settings.ATTENDANCE_RECONCILE_ABSENT_OVER)


@dataclass(frozen=True)
class Observed:
    """What the whiteboard measured of one participant inside the scheduled time."""

    active_seconds: int
    # Board interactions (strokes) when the board counts them; None: not measured, the flags rest on time alone.
    interactions: int | None = None


@dataclass(frozen=True)
class Flag:
    code: str
    role: str | None  # "tutor", "student", or None for the session as a whole
    text: str

    @property
    def label(self) -> str:
        return FLAG_LABELS[self.code]


def reconciliation_flags(
    *,
    tutor_status: str,
    student_status: str,
    tutor: Observed | None,
    student: Observed | None,
    session_seconds: float,
    unknown_seconds: float = 0,
    thresholds: Thresholds = Thresholds(),
) -> tuple[Flag, ...]:
    """The disagreements between a finished session's decision and its evidence (none without evidence)."""
    if tutor is None or student is None or session_seconds <= 0:
        return ()
    marks = {"tutor": (tutor_status, tutor), "student": (student_status, student)}
    if all(status in ATTENDED and seen.active_seconds == 0 for status, seen in marks.values()) and not unknown_seconds:
        return (
            Flag(
                BOTH_ABSENT_MARKED_DELIVERED,
                None,
                "Both marked there (a delivered session), but neither joined the whiteboard.",
            ),
        )
    flags = []
    for role, (status, seen) in marks.items():
        flag = _participant_flag(role, status, seen, session_seconds, unknown_seconds, thresholds)
        if flag is not None:
            flags.append(flag)
    return tuple(flags)


def _participant_flag(
    role: str, status: str, seen: Observed, length: float, unknown: float, thresholds: Thresholds
) -> Flag | None:
    who = role.capitalize()
    marked = status.replace("_", " ")
    share = seen.active_seconds / length
    there = f"{_percent(share)} of the session ({_minutes(seen.active_seconds)} of {_minutes(length)} min)"
    if status in ATTENDED:
        if (seen.active_seconds + unknown) / length < thresholds.present_under:
            if seen.active_seconds == 0:
                return Flag(NO_INTERACTION, role, f"{who} marked {marked}, but never on the whiteboard.")
            return Flag(MARK_DISAGREES, role, f"{who} marked {marked}, but on the whiteboard for only {there}.")
        if seen.interactions == 0:
            return Flag(NO_INTERACTION, role, f"{who} marked {marked} and on the whiteboard, but drew nothing on it.")
    elif status == ABSENT and share > thresholds.absent_over:
        return Flag(MARK_DISAGREES, role, f"{who} marked absent, but on the whiteboard for {there}.")
    return None


def _percent(share: float) -> str:
    return f"{round(100 * share)} %"


def _minutes(seconds: float) -> str:
    return str(round(seconds / 60))
