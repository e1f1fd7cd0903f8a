"""What a session's decision means for billing: one pure function, the only place the rule lives.

Pages, reports, the CSV and the list API all call `billing_outcome`; the README's table is
generated from it (tests/attendance/test_billing.py holds the two equal). Sessions without a
whiteboard follow the same rule: it reads the decision (statuses, source, when it was made),
never the evidence.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from attendance import statuses as s


@dataclass(frozen=True)
class Billing:
    outcome: str
    chargeable: bool
    # Delivered sessions that were not whole: `tutor_late`, `student_left_early`, ...
    flags: tuple[str, ...] = ()


def billing_outcome(
    *,
    tutor_status: str,
    student_status: str,
    source: str,
    decided_at: datetime | None,
    scheduled_start: datetime,
    notice: timedelta,
) -> Billing:
    """The billing outcome of a decision.

    In order: the tutor excused (a cancellation by the tutor: `tutor_late_cancellation` when
    decided less than `notice` before the start, unless an admin excused them); the student
    excused (by a parent: `late_cancellation`, chargeable, when less than `notice` before the
    start; by the tutor or an admin: `cancelled_in_time`); the tutor absent (`tutor_no_show`,
    whatever the student did); the student absent (`student_no_show`, chargeable); else
    `delivered`, flagged when someone was late or left early. An undecided session's decision
    has no time (`decided_at` None) and counts as late.
    """
    in_time = decided_at is not None and decided_at <= scheduled_start - notice
    if tutor_status == s.EXCUSED:
        outcome = s.CANCELLED_IN_TIME if in_time or source == s.ADMIN_OVERRIDE else s.TUTOR_LATE_CANCELLATION
    elif student_status == s.EXCUSED:
        outcome = s.LATE_CANCELLATION if source == s.PARENT_REPORTED and not in_time else s.CANCELLED_IN_TIME
    elif tutor_status == s.ABSENT:
        outcome = s.TUTOR_NO_SHOW
    elif student_status == s.ABSENT:
        outcome = s.STUDENT_NO_SHOW
    else:
        flags = tuple(
            f"{who}_{status}"
            for who, status in (("tutor", tutor_status), ("student", student_status))
            if status != s.PRESENT
        )
        return Billing(s.DELIVERED, True, flags)
    return Billing(outcome, outcome in s.CHARGEABLE)


def billing_notice() -> timedelta:
    """How long before the start a cancellation must come to be in time (BILLING_CANCELLATION_NOTICE_HOURS)."""
    return timedelta(hours=settings.BILLING_CANCELLATION_NOTICE_HOURS)


def billing_pending(session, *, now: datetime) -> bool:
    """Nothing to bill yet: the session has not ended and nobody has decided anything (cancelled, reported)."""
    return session.attendance_source == s.SYSTEM_DEFAULT and now < session.scheduled_end


def session_billing(session, *, now: datetime, notice: timedelta | None = None) -> Billing | None:
    """The billing outcome of a session's current decision (undecided and ended: what is assumed); None while pending."""
    if billing_pending(session, now=now):
        return None
    return billing_outcome(
        tutor_status=session.tutor_attendance_status,
        student_status=session.student_attendance_status,
        source=session.attendance_source,
        decided_at=None if session.attendance_source == s.SYSTEM_DEFAULT else session.attendance_marked_at,
        scheduled_start=session.scheduled_start,
        notice=billing_notice() if notice is None else notice,
    )


def _cell(tutor_status: str, student_status: str, source: str) -> str:
    """A decision's outcome made late (under the notice, or undecided), then made in time where that differs."""
    start, notice = datetime(2026, 1, 1, 12, 0), timedelta(hours=24)
    late, in_time = (
        billing_outcome(
            tutor_status=tutor_status,
            student_status=student_status,
            source=source,
            decided_at=decided,
            scheduled_start=start,
            notice=notice,
        ).outcome
        for decided in (start, start - notice)
    )
    return late if late == in_time else f"{late}; in time: {in_time}"


def _grouped(statuses: list[str]) -> str:
    return "any" if len(statuses) == len(s.STATUSES) else ", ".join(statuses)


def billing_table() -> str:
    """Every combination of the two statuses and the source, as the README's Markdown table.

    Statuses with the same outcomes share a row. A cell names the outcome of a decision made late
    (less than the notice before the start, or undecided) and, after `;`, when made in time where that
    differs. tests/attendance/test_billing.py holds the README's copy equal to this.
    """
    rows: dict[tuple, list[str]] = {}  # (student statuses, cells) per tutor status, merged below
    by_tutor = {}
    for tutor_status in s.STATUSES:
        by_student: dict[tuple[str, ...], list[str]] = {}
        for student_status in s.STATUSES:
            cells = tuple(_cell(tutor_status, student_status, source) for source in s.SOURCES)
            by_student.setdefault(cells, []).append(student_status)
        by_tutor[tutor_status] = tuple((tuple(students), cells) for cells, students in by_student.items())
    for tutor_status, groups in by_tutor.items():
        rows.setdefault(groups, []).append(tutor_status)
    lines = [
        "| tutor | student | " + " | ".join(f"`{source}`" for source in s.SOURCES) + " |",
        "| --- | --- |" + " --- |" * len(s.SOURCES),
    ]
    for groups, tutors in rows.items():
        for students, cells in groups:
            lines.append(f"| {_grouped(tutors)} | {_grouped(list(students))} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
