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


def session_billing(session, *, notice: timedelta | None = None) -> Billing:
    """The billing outcome of a session's current decision (undecided: what is assumed)."""
    return billing_outcome(
        tutor_status=session.tutor_attendance_status,
        student_status=session.student_attendance_status,
        source=session.attendance_source,
        decided_at=None if session.attendance_source == s.SYSTEM_DEFAULT else session.attendance_marked_at,
        scheduled_start=session.scheduled_start,
        notice=billing_notice() if notice is None else notice,
    )
