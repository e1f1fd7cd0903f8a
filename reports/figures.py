"""Report figures from aggregated rows: pure functions over plain dicts, no database.

The selectors ask the database for counts (one row per tutor, student or week); everything
here turns those counts into rates, fills in empty weeks and tallies how often the final
attendance agreed with the suggestion. Being pure, it is tested without a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from attendance.labels import STATUS_LABELS
from attendance.statuses import STATUSES, WHITEBOARD_AUTO
from attendance.statuses import SUGGESTED as SUGGESTED_STATUSES

ROLES = ("tutor", "student")


NO_VALUE = "\u2013"  # an en dash: nothing to show (no sessions to divide by), never a misleading 0%


def percent(value: float | None) -> str:
    """A share as a whole percentage."""
    return NO_VALUE if value is None else f"{round(value * 100)}%"


def rate(part: int, whole: int) -> float | None:
    """part / whole, or None when there is nothing to divide by (shown as a dash, never as 0%)."""
    return part / whole if whole else None


@dataclass(frozen=True)
class StatusCounts:
    """How often one participant (or everyone in a role) had each status."""

    sessions: int = 0
    present: int = 0
    late: int = 0
    left_early: int = 0
    absent: int = 0
    excused: int = 0

    @classmethod
    def from_aggregate(cls, values: Mapping, role: str) -> StatusCounts:
        """Read `sessions` and `<role>_<status>` counts from an aggregate row."""
        return cls(sessions=values["sessions"], **{s: values[f"{role}_{s}"] or 0 for s in STATUSES})

    def count(self, status: str) -> int:
        return getattr(self, status)

    def rate(self, status: str) -> float | None:
        """Share of sessions with this status."""
        return rate(self.count(status), self.sessions)

    @property
    def attended(self) -> int:
        return self.present + self.late + self.left_early

    @property
    def attendance_rate(self) -> float | None:
        """Attended (present, late or left early) out of the sessions that were not excused."""
        return rate(self.attended, self.sessions - self.excused)

    def cells(self) -> list[tuple[str, int, float | None]]:
        """(status, count, rate) in the order tables show them."""
        return [(s, self.count(s), self.rate(s)) for s in STATUSES]


@dataclass(frozen=True)
class Figures:
    """Everything the report says about one group of sessions (all, one tutor's, one student's)."""

    tutor: StatusCounts
    student: StatusCounts
    no_shows: int  # sessions with the student absent
    late_minutes: float | None  # average minutes late of students marked late, measured on the whiteboard
    late_measured: int  # how many sessions that average is over

    @classmethod
    def from_aggregate(cls, values: Mapping) -> Figures:
        late = values.get("late_average")
        return cls(
            tutor=StatusCounts.from_aggregate(values, "tutor"),
            student=StatusCounts.from_aggregate(values, "student"),
            no_shows=values["student_absent"] or 0,
            late_minutes=None if late is None else minutes(late),
            late_measured=values["late_measured"] or 0,
        )

    @property
    def sessions(self) -> int:
        return self.student.sessions

    @property
    def no_show_rate(self) -> float | None:
        return rate(self.no_shows, self.sessions)

    def status_rows(self) -> list[tuple[str, str, int, float | None, int, float | None]]:
        """(status, label, students' count, share, tutors' count, share) for each status."""
        return [
            (s, STATUS_LABELS[s], self.student.count(s), self.student.rate(s), self.tutor.count(s), self.tutor.rate(s))
            for s in STATUSES
        ]


def minutes(value) -> float:
    """A duration as minutes: the database gives a timedelta (or, on some backends, microseconds)."""
    if isinstance(value, timedelta):
        return value.total_seconds() / 60
    return float(value) / 60_000_000


@dataclass(frozen=True)
class PersonRow:
    """One line of the by-tutor or by-student table."""

    person_id: int
    name: str
    figures: Figures


def person_name(first_name: str, last_name: str, username: str) -> str:
    return f"{first_name} {last_name}".strip() or username


def person_rows(rows: Iterable[Mapping], role: str) -> list[PersonRow]:
    """Rows grouped by `<role>_id` (with the person's name columns) into table lines."""
    return [
        PersonRow(
            person_id=row[f"{role}_id"],
            name=person_name(row[f"{role}__first_name"], row[f"{role}__last_name"], row[f"{role}__username"]),
            figures=Figures.from_aggregate(row),
        )
        for row in rows
    ]


# --- weeks ----------------------------------------------------------------------


@dataclass(frozen=True)
class WeekPoint:
    """Student attendance in one week (Monday to Sunday, business time zone)."""

    week_start: date
    counts: StatusCounts

    @property
    def week_end(self) -> date:
        return self.week_start + timedelta(days=6)


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def fill_weeks(rows: Iterable[Mapping], *, date_from: date, date_to: date) -> list[WeekPoint]:
    """One point per week from the week of `date_from` to that of `date_to`, empty weeks included.

    `rows` have `week` (a date or datetime at the week's Monday) and the usual counts.
    """
    by_week = {}
    for row in rows:
        week = row["week"]
        week = week.date() if hasattr(week, "date") else week
        by_week[week] = StatusCounts.from_aggregate(row, "student")
    points, week = [], monday(date_from)
    while week <= date_to:
        points.append(WeekPoint(week_start=week, counts=by_week.get(week, StatusCounts())))
        week += timedelta(days=7)
    return points


# --- agreement with the suggestion ---------------------------------------------


@dataclass
class AgreementLine:
    """For one suggested status: how often the final status stayed as suggested, per role."""

    status: str
    suggested: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROLES, 0))
    kept: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROLES, 0))

    @property
    def label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    def changed(self, role: str) -> int:
        return self.suggested[role] - self.kept[role]

    def rate(self, role: str) -> float | None:
        return rate(self.kept[role], self.suggested[role])

    def cells(self) -> list[tuple[str, int, int, int, float | None]]:
        """(role, suggested, kept, changed, agreement rate): students first, as the table shows them."""
        return [
            (role, self.suggested[role], self.kept[role], self.changed(role), self.rate(role))
            for role in ("student", "tutor")
        ]


@dataclass
class Agreement:
    """How often the final attendance agreed with the suggestion standing at the last decision."""

    sessions: int = 0  # all sessions in the report
    compared: int = 0  # sessions whose history holds a suggestion
    both_kept: int = 0  # sessions where both final statuses are as suggested
    lines: list[AgreementLine] = field(default_factory=lambda: [AgreementLine(s) for s in SUGGESTED_STATUSES])

    @property
    def rate(self) -> float | None:
        return rate(self.both_kept, self.compared)

    def line(self, status: str) -> AgreementLine:
        for line in self.lines:
            if line.status == status:
                return line
        line = AgreementLine(status)  # a status today's rules never suggest, from older history
        self.lines.append(line)
        return line


def agreement(rows: Iterable[Mapping]) -> Agreement:
    """Tally grouped rows into agreement figures.

    Each row is one combination of `suggested_tutor`, `suggested_student` (None: no
    suggestion in the history), the current `tutor_attendance_status`,
    `student_attendance_status`, `attendance_source`, with `n` sessions. A session whose
    attendance is `whiteboard_auto` took the suggestion, so it counts as kept.
    """
    result = Agreement()
    for row in rows:
        n = row["n"]
        result.sessions += n
        if row["suggested_student"] is None and row["suggested_tutor"] is None:
            continue
        result.compared += n
        accepted = row["attendance_source"] == WHITEBOARD_AUTO
        kept_roles = 0
        for role in ROLES:
            suggested = row[f"suggested_{role}"]
            if suggested is None:
                continue
            line = result.line(suggested)
            line.suggested[role] += n
            if accepted or row[f"{role}_attendance_status"] == suggested:
                line.kept[role] += n
                kept_roles += 1
        if kept_roles == len(ROLES):
            result.both_kept += n
    return result
