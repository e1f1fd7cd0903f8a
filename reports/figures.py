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
from attendance.statuses import STATUSES
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
#
# Counted on decisions (attendance.decisions.Decision: one participant's status at one history
# row that kept a suggestion). Only statuses a person chose (tutor's mark, admin override that
# chose) count: an applied suggestion (accepted by tutor or admin, or by the finalising job)
# cannot disagree with itself, so it is counted apart and never raises the rate.


@dataclass
class Tally:
    """Chosen statuses and how many of them kept the suggested one."""

    decided: int = 0
    kept: int = 0

    def add(self, kept: bool) -> None:
        self.decided += 1
        self.kept += int(kept)

    @property
    def changed(self) -> int:
        return self.decided - self.kept

    @property
    def rate(self) -> float | None:
        return rate(self.kept, self.decided)


@dataclass
class AgreementLine:
    """For one suggested status: how often people who chose kept it, per role; and how often it was applied."""

    status: str
    suggested: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROLES, 0))
    kept: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROLES, 0))
    applied: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROLES, 0))

    @property
    def label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    def changed(self, role: str) -> int:
        return self.suggested[role] - self.kept[role]

    def rate(self, role: str) -> float | None:
        return rate(self.kept[role], self.suggested[role])

    def cells(self) -> list[tuple[str, int, int, int, float | None]]:
        """(role, chosen, kept, changed, agreement rate): students first, as the table shows them."""
        return [
            (role, self.suggested[role], self.kept[role], self.changed(role), self.rate(role))
            for role in ("student", "tutor")
        ]

    def cells_with_applied(self) -> list[tuple[str, int, int, int, float | None, int]]:
        """As cells(), with how often the suggestion was applied (counted apart)."""
        return [(*cell, self.applied[cell[0]]) for cell in self.cells()]


@dataclass
class Agreement:
    """How often people who chose a status kept the suggested one."""

    decided: int = 0  # participant statuses a person chose, with a suggestion shown
    kept: int = 0  # ... that were the suggested status
    applied: int = 0  # participant statuses set by applying the suggestion: counted apart
    lines: list[AgreementLine] = field(default_factory=lambda: [AgreementLine(s) for s in SUGGESTED_STATUSES])

    @property
    def rate(self) -> float | None:
        return rate(self.kept, self.decided)

    @property
    def changed(self) -> int:
        return self.decided - self.kept

    def line(self, status: str) -> AgreementLine:
        for line in self.lines:
            if line.status == status:
                return line
        line = AgreementLine(status)  # a status today's rules never suggest, from older history
        self.lines.append(line)
        return line


def agreement(decisions: Iterable) -> Agreement:
    """Tally decisions (objects with role, suggested, decided, chosen) into agreement figures."""
    result = Agreement()
    for decision in decisions:
        line = result.line(decision.suggested)
        if not decision.chosen:
            result.applied += 1
            line.applied[decision.role] += 1
            continue
        kept = decision.decided == decision.suggested
        result.decided += 1
        result.kept += int(kept)
        line.suggested[decision.role] += 1
        line.kept[decision.role] += int(kept)
    return result
