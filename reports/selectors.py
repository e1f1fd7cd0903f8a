"""Read side of the attendance report: who may see it, which sessions, and the database aggregates.

Every figure is counted by the database (Count with filter=Q, Avg), grouped by tutor, by
student or by week, so a page costs the same handful of queries whatever the data size.
`reports.figures` turns the resulting rows into rates.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import (
    Avg,
    BooleanField,
    Case,
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Greatest, TruncWeek
from django.utils import timezone

from attendance.billing import billing_notice, billing_outcome, session_billing
from attendance.calibration import calibration_current, minimum_decisions
from attendance.decisions import decisions
from attendance.labels import BILLING_LABELS
from attendance.models import AttendanceChange, AttendanceSource, AttendanceStatus, TutoringSession
from attendance.statuses import BILLING_OUTCOMES, CHARGEABLE
from attendance.streaks import open_streaks
from attendance.suggestions import Policy
from reports.agreement import AgreementReport, CalibrationLine, agreement_report
from reports.figures import Agreement, Figures, PersonRow, WeekPoint, agreement, fill_weeks, person_name, person_rows
from whiteboard.models import Connection
from whiteboard.selectors import presence_snapshot

User = get_user_model()

# The CSV reads sessions in chunks of this many rows, so a year of them never sits in memory at once.
EXPORT_CHUNK_SIZE = 500


def business_zone() -> zoneinfo.ZoneInfo:
    """The business's time zone: report dates, weeks and CSV times are in it, whoever looks."""
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def business_today(now: datetime | None = None) -> date:
    return timezone.localdate(now or timezone.now(), business_zone())


def reports_visible_to(user) -> bool:
    """Staff see every report; a tutor sees reports of their own sessions; nobody else (students, parents)."""
    if not user.is_authenticated:
        return False
    return user.is_staff or TutoringSession.objects.filter(tutor=user).exists()


@dataclass(frozen=True)
class ReportFilters:
    """What the report covers: a date range (inclusive, business time zone) and optional narrowing."""

    date_from: date
    date_to: date
    tutor_id: int | None = None
    student_id: int | None = None
    status: str = ""  # the student's attendance status
    source: str = ""

    def window(self) -> tuple[datetime, datetime]:
        """[start of date_from, start of the day after date_to) as aware datetimes in the business zone."""
        zone = business_zone()
        start = datetime.combine(self.date_from, time.min, tzinfo=zone)
        end = datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=zone)
        return start, end


def report_sessions(*, user, filters: ReportFilters) -> QuerySet[TutoringSession]:
    """The sessions a report covers: those starting in the range, and only the tutor's own for a tutor."""
    start, end = filters.window()
    queryset = TutoringSession.objects.filter(scheduled_start__gte=start, scheduled_start__lt=end)
    if not user.is_staff:
        queryset = queryset.filter(tutor=user)
    if filters.tutor_id:
        queryset = queryset.filter(tutor_id=filters.tutor_id)
    if filters.student_id:
        queryset = queryset.filter(student_id=filters.student_id)
    if filters.status:
        queryset = queryset.filter(student_attendance_status=filters.status)
    if filters.source:
        queryset = queryset.filter(attendance_source=filters.source)
    return queryset


def report_people(*, user, role: str) -> QuerySet:
    """Tutors or students (role) of the sessions the user may report on, for the filter menus."""
    sessions = TutoringSession.objects.all() if user.is_staff else TutoringSession.objects.filter(tutor=user)
    return User.objects.filter(pk__in=sessions.values(f"{role}_id")).order_by("first_name", "last_name", "username")


# --- aggregates -----------------------------------------------------------------

# Minutes late, from presence: the student's first join on the whiteboard minus the scheduled
# start (a student who had joined before the start counts as 0), for students marked late.
# Sessions without a whiteboard, or where the student never joined, are left out.
LATENESS = Greatest(
    ExpressionWrapper(F("whiteboard__student_connected_at") - F("scheduled_start"), output_field=DurationField()),
    timedelta(0),
)
LATE_MEASURED = Q(student_attendance_status=AttendanceStatus.LATE, whiteboard__student_connected_at__isnull=False)


def _figure_aggregates() -> dict:
    """Counts of every status of both participants, no-shows and lateness: one SQL row per group."""
    aggregates = {"sessions": Count("pk")}
    for role in ("tutor", "student"):
        for status in AttendanceStatus.values:
            aggregates[f"{role}_{status}"] = Count("pk", filter=Q(**{f"{role}_attendance_status": status}))
    aggregates["late_average"] = Avg(LATENESS, filter=LATE_MEASURED)
    aggregates["late_measured"] = Count("pk", filter=LATE_MEASURED)
    return aggregates


def _person_columns(role: str) -> tuple[str, ...]:
    return (f"{role}_id", f"{role}__first_name", f"{role}__last_name", f"{role}__username")


def figures_by(queryset: QuerySet, role: str) -> list[PersonRow]:
    """One row of figures per tutor or per student (role), by name."""
    columns = _person_columns(role)
    rows = queryset.values(*columns).annotate(**_figure_aggregates()).order_by(*columns[1:], columns[0])
    return person_rows(rows, role)


def weekly_figures(queryset: QuerySet, filters: ReportFilters) -> list[WeekPoint]:
    """Student attendance per week (weeks start on Monday in the business zone), empty weeks included."""
    rows = (
        queryset.annotate(week=TruncWeek("scheduled_start", tzinfo=business_zone()))
        .values("week")
        .annotate(**_figure_aggregates())
        .order_by("week")
    )
    return fill_weeks(rows, date_from=filters.date_from, date_to=filters.date_to)


def report_decisions(queryset: QuerySet) -> list:
    """Decisions on suggestions in these sessions' history (attendance.decisions): one query."""
    return list(decisions(AttendanceChange.objects.filter(session__in=queryset.values("pk"))))


def suggestion_agreement(queryset: QuerySet) -> Agreement:
    """How often people who chose a status kept the suggested one; applied suggestions counted apart."""
    return agreement(report_decisions(queryset))


@dataclass(frozen=True)
class BillingLine:
    outcome: str
    label: str
    sessions: int
    chargeable: bool


def billing_counts(queryset: QuerySet, *, now: datetime) -> list[BillingLine]:
    """Sessions per billing outcome, by `attendance.billing`'s one rule: one query, whatever the number of sessions.

    The database groups sessions by their decision and whether it came in time (the only timing the
    rule reads); the rule then names each group's outcome. Sessions with nothing to bill yet
    (not ended, nothing decided) are left out, as `billing_pending` says.
    """
    notice = billing_notice()
    deadline = ExpressionWrapper(F("scheduled_start") - notice, output_field=DateTimeField())
    groups = (
        queryset.exclude(attendance_source=AttendanceSource.SYSTEM_DEFAULT, scheduled_end__gt=now)
        .annotate(
            in_time=Case(
                When(
                    ~Q(attendance_source=AttendanceSource.SYSTEM_DEFAULT) & Q(attendance_marked_at__lte=deadline),
                    then=Value(True),
                ),
                default=Value(False),
                output_field=BooleanField(),
            )
        )
        .values("tutor_attendance_status", "student_attendance_status", "attendance_source", "in_time")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts = dict.fromkeys(BILLING_OUTCOMES, 0)
    start = datetime(2000, 1, 1, tzinfo=UTC)
    for group in groups:
        outcome = billing_outcome(
            tutor_status=group["tutor_attendance_status"],
            student_status=group["student_attendance_status"],
            source=group["attendance_source"],
            decided_at=(start - notice) if group["in_time"] else None,
            scheduled_start=start,
            notice=notice,
        ).outcome
        counts[outcome] += group["n"]
    return [BillingLine(o, BILLING_LABELS[o], counts[o], o in CHARGEABLE) for o in BILLING_OUTCOMES]


@dataclass(frozen=True)
class Report:
    filters: ReportFilters
    totals: Figures
    by_tutor: list[PersonRow]
    by_student: list[PersonRow]
    weeks: list[WeekPoint]
    agreement: Agreement
    billing: list[BillingLine]


def attendance_report(*, user, filters: ReportFilters) -> Report:
    """The whole report for what the user may see: a handful of queries, whatever the number of sessions."""
    sessions = report_sessions(user=user, filters=filters)
    return Report(
        filters=filters,
        totals=Figures.from_aggregate(sessions.aggregate(**_figure_aggregates())),
        by_tutor=figures_by(sessions, "tutor"),
        by_student=figures_by(sessions, "student"),
        weeks=weekly_figures(sessions, filters),
        agreement=suggestion_agreement(sessions),
        billing=billing_counts(sessions, now=timezone.now()),
    )


# --- export ---------------------------------------------------------------------

# The people named in a CSV line, by the prefix their columns carry in an export row.
_EXPORT_PEOPLE = ("tutor", "student", "attendance_marked_by")
_EXPORT_SESSION_FIELDS = (
    "pk",
    "title",
    "scheduled_start",
    "scheduled_end",
    "tutor_attendance_status",
    "student_attendance_status",
    "attendance_source",
    "attendance_marked_at",
    "attendance_notes",
    "whiteboard_id",
)


def export_rows(*, user, filters: ReportFilters, now: datetime | None = None) -> Iterator[dict]:
    """The report's sessions as plain dicts, oldest first, read from the database in chunks (two queries).

    Presence is what `presence_snapshot` says (heartbeats the fast path has not folded into the
    whiteboard row yet included), as on the session page and in the API.
    """
    now = now or timezone.now()
    sessions = report_sessions(user=user, filters=filters)
    # Open connections are few (only live or unswept tabs): one query for the whole range.
    open_connections: dict[int, list[Connection]] = {}
    for connection in Connection.objects.filter(
        closed_at__isnull=True, whiteboard_id__in=sessions.filter(whiteboard__isnull=False).values("whiteboard_id")
    ):
        open_connections.setdefault(connection.whiteboard_id, []).append(connection)
    rows = (
        sessions.select_related(*_EXPORT_PEOPLE, "whiteboard")
        .order_by("scheduled_start", "pk")
        .iterator(chunk_size=EXPORT_CHUNK_SIZE)
    )
    return (_export_row(session, now=now, open_connections=open_connections) for session in rows)


def _export_row(session: TutoringSession, *, now: datetime, open_connections: dict[int, list[Connection]]) -> dict:
    row = {name: getattr(session, name) for name in _EXPORT_SESSION_FIELDS}
    billing = session_billing(session, now=now)
    row["billing_outcome"] = billing and billing.outcome
    for prefix in _EXPORT_PEOPLE:
        person = getattr(session, prefix)
        for column in ("first_name", "last_name", "username"):
            row[f"{prefix}__{column}"] = getattr(person, column) if person is not None else None
    snapshot = {}
    if session.whiteboard is not None:
        snapshot = presence_snapshot(
            whiteboard=session.whiteboard, now=now, open_connections=open_connections.get(session.whiteboard_id, [])
        )
    for role in ("tutor", "student"):
        status = snapshot.get(role)
        row[f"whiteboard__{role}_connected_at"] = status and status.connected_at
        row[f"whiteboard__{role}_last_activity_at"] = status and status.last_activity_at
        row[f"whiteboard__{role}_total_active_seconds"] = status and status.total_active_seconds
        row[f"whiteboard__{role}_reconnects"] = status and status.reconnects  # kept once the spans are removed
    return row


# --- the agreement page (issue 19) ---------------------------------------------------


def calibration_lines() -> list[CalibrationLine]:
    """What the page says about each role's calibration (reads the fit table only)."""
    calibrator = calibration_current()
    minimum = minimum_decisions()
    lines = []
    for role in ("student", "tutor"):
        fit = calibrator.fits.get(role)
        lines.append(
            CalibrationLine(
                role=role,
                minimum=minimum,
                fitted_at=fit.fitted_at if fit else None,
                sample_size=fit.sample_size if fit else 0,
                active=calibrator.active(role),
                brier_before=fit.brier_before if fit else None,
                brier_after=fit.brier_after if fit else None,
            )
        )
    return lines


def agreement_decisions(*, user, filters: ReportFilters) -> tuple[list, dict[int, str]]:
    """Decisions in the sessions of the report's filters, and their tutors' names (two queries)."""
    found = report_decisions(report_sessions(user=user, filters=filters))
    tutor_ids = {d.tutor_id for d in found}
    names = {
        pk: person_name(first, last, username)
        for pk, first, last, username in User.objects.filter(pk__in=tutor_ids).values_list(
            "pk", "first_name", "last_name", "username"
        )
    }
    return found, names


def agreement_page(*, user, filters: ReportFilters) -> AgreementReport:
    """The agreement report over the sessions of the report's filters."""
    found, names = agreement_decisions(user=user, filters=filters)
    return agreement_report(
        found,
        zone=business_zone(),
        tutor_names=names,
        threshold=Policy.from_settings().auto_apply_confidence,
        calibration=calibration_lines(),
    )


def streaks_open() -> list:
    """Open streaks (absences, lateness, tutor no-shows in a row) for the staff list."""
    return list(open_streaks())
