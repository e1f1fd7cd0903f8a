"""Report figures on known data: every expected number is worked out by hand below."""

from datetime import UTC, date, datetime, timedelta

import pytest

from attendance.models import TutoringSession
from attendance.services import attendance_apply_suggestion, attendance_mark_by_hand
from reports.selectors import ReportFilters, attendance_report, report_sessions
from tests.conftest import T0
from tests.factories import AttendanceChangeFactory, TutoringSessionFactory, UserFactory, WhiteboardSessionFactory
from tests.whiteboard.helpers import presence_trace

pytestmark = pytest.mark.django_db

MARCH = ReportFilters(date_from=date(2026, 3, 1), date_to=date(2026, 3, 31))  # London is on UTC in March


def held(
    tutor,
    student,
    day,
    *,
    tutor_status="present",
    student_status="present",
    source="manual",
    joined_after=None,
    whiteboard=True,
    suggested=(),
):
    """A session `day` days after T0 with the given outcome.

    joined_after: minutes after the start the student first joined the whiteboard (None: never).
    suggested: (tutor, student) statuses of each suggestion in the history, oldest first.
    """
    start = T0 + timedelta(days=day)
    board = None
    if whiteboard:
        joined = start + timedelta(minutes=joined_after) if joined_after is not None else None
        board = WhiteboardSessionFactory(student_connected_at=joined)
    session = TutoringSessionFactory(
        tutor=tutor,
        student=student,
        scheduled_start=start,
        scheduled_end=start + timedelta(hours=1),
        whiteboard=board,
        tutor_attendance_status=tutor_status,
        student_attendance_status=student_status,
        attendance_source=source,
    )
    for tutor_suggested, student_suggested in suggested:
        AttendanceChangeFactory(
            session=session,
            source=source,
            suggestion={"final": True, "tutor": {"status": tutor_suggested}, "student": {"status": student_suggested}},
        )
    return session


@pytest.fixture
def month(tutor, student, other_tutor, other_student):
    """Nine sessions in March 2026 and one in February; Tina tutors Sam and Olga, Otto tutors Sam."""
    sam, olga, tina, otto = student, other_student, tutor, other_tutor
    return {
        "s1": held(tina, sam, 0, joined_after=-2, suggested=[("present", "present")]),
        "s2": held(tina, sam, 1, student_status="late", joined_after=12, suggested=[("present", "late")]),
        "s3": held(tina, sam, 2, student_status="late", joined_after=6, suggested=[("present", "present")]),
        "s4": held(tina, sam, 7, student_status="absent", source="whiteboard_auto", suggested=[("present", "absent")]),
        # Two suggestions in the history: the latest one counts.
        "s5": held(tina, olga, 8, student_status="excused", suggested=[("present", "present"), ("present", "absent")]),
        "s6": held(tina, olga, 9, student_status="late", whiteboard=False),
        "s7": held(
            tina,
            olga,
            14,
            tutor_status="late",
            student_status="left_early",
            joined_after=0,
            suggested=[("late", "left_early")],
        ),
        # Joined 5 min before the start, yet marked late: counts as 0 minutes late.
        "s8": held(
            otto,
            sam,
            3,
            tutor_status="late",
            student_status="late",
            source="admin_override",
            joined_after=-5,
            suggested=[("present", "present")],
        ),
        "s9": held(otto, sam, 4, tutor_status="absent", source="system_default", whiteboard=False),
        "february": held(tina, sam, -30, student_status="absent"),
    }


def test_totals_on_known_data(staff, month):
    totals = attendance_report(user=staff, filters=MARCH).totals

    assert totals.sessions == 9  # s1..s9; February is outside the range
    student = totals.student
    assert (student.present, student.late, student.left_early, student.absent, student.excused) == (2, 4, 1, 1, 1)
    tutor = totals.tutor
    assert (tutor.present, tutor.late, tutor.left_early, tutor.absent, tutor.excused) == (6, 2, 0, 1, 0)
    assert student.rate("late") == pytest.approx(4 / 9)
    # Attended (present, late, left early) over the sessions not excused.
    assert student.attendance_rate == pytest.approx(7 / 8)
    assert totals.no_shows == 1
    assert totals.no_show_rate == pytest.approx(1 / 9)
    # Late with a whiteboard join: s2 12 min, s3 6 min, s8 joined early -> 0; s6 has no whiteboard.
    assert totals.late_measured == 3
    assert totals.late_minutes == pytest.approx((12 + 6 + 0) / 3)


def test_agreement_counts_every_chosen_status_and_keeps_applied_ones_apart(staff, month):
    agreement = attendance_report(user=staff, filters=MARCH).agreement

    # Each history row with a suggestion where a person chose is a decision per participant:
    # s1 s2 s3 s7 s8 one row each, s5 two rows -> 7 rows, 14 statuses. s4 was applied
    # (whiteboard_auto): its 2 statuses are counted apart; s6 and s9 have no suggestion.
    assert (agreement.decided, agreement.applied) == (14, 2)
    # Kept: s1 2, s2 2, s3 1 (tutor), s5 2 (tutor, twice), s7 2, s8 0 (an admin chose other statuses).
    assert agreement.kept == 9
    assert agreement.rate == pytest.approx(9 / 14)
    by_status = {line.status: line for line in agreement.lines}
    # Student: present suggested for s1 (kept), s3, s5's first row and s8 (changed).
    assert (by_status["present"].suggested["student"], by_status["present"].kept["student"]) == (4, 1)
    assert (by_status["late"].suggested["student"], by_status["late"].kept["student"]) == (1, 1)
    assert (by_status["left_early"].suggested["student"], by_status["left_early"].kept["student"]) == (1, 1)
    # absent: s5's second row (now excused) chosen and changed; s4 applied, not counted.
    assert (by_status["absent"].suggested["student"], by_status["absent"].kept["student"]) == (1, 0)
    assert by_status["absent"].applied["student"] == 1
    assert by_status["absent"].rate("student") == 0
    assert (by_status["present"].suggested["tutor"], by_status["present"].kept["tutor"]) == (6, 5)
    # Tutor: present suggested six times, kept but for s8 (tutor late); late once (s7), kept.
    assert (by_status["present"].suggested["tutor"], by_status["present"].kept["tutor"]) == (6, 5)
    assert (by_status["late"].suggested["tutor"], by_status["late"].kept["tutor"]) == (1, 1)


def test_rows_by_tutor_count_the_tutors_own_attendance(staff, tutor, other_tutor, month):
    rows = {row.person_id: row.figures for row in attendance_report(user=staff, filters=MARCH).by_tutor}

    assert set(rows) == {tutor.pk, other_tutor.pk}
    tina = rows[tutor.pk]
    assert tina.sessions == 7
    assert (tina.tutor.present, tina.tutor.late, tina.tutor.absent) == (6, 1, 0)
    assert tina.no_show_rate == pytest.approx(1 / 7)  # s4
    assert tina.late_minutes == pytest.approx((12 + 6) / 2)  # her students' late arrivals: s2, s3
    assert tina.student.attendance_rate == pytest.approx(5 / 6)  # s1 s2 s3 s6 s7 of 6 not excused
    otto = rows[other_tutor.pk]
    assert otto.sessions == 2
    assert (otto.tutor.late, otto.tutor.absent) == (1, 1)
    assert otto.tutor.rate("absent") == pytest.approx(1 / 2)
    assert otto.no_show_rate == 0
    assert otto.late_minutes == 0


def test_rows_by_student(staff, student, other_student, month):
    rows = {row.person_id: row.figures for row in attendance_report(user=staff, filters=MARCH).by_student}

    sam = rows[student.pk]
    assert sam.sessions == 6  # s1 s2 s3 s4 s8 s9
    assert (sam.student.present, sam.student.late, sam.student.absent) == (2, 3, 1)
    assert sam.no_show_rate == pytest.approx(1 / 6)
    assert sam.late_minutes == pytest.approx(6.0)
    olga = rows[other_student.pk]
    assert olga.sessions == 3
    assert (olga.student.excused, olga.student.late, olga.student.left_early) == (1, 1, 1)
    assert olga.late_minutes is None  # her only late session had no whiteboard
    assert olga.late_measured == 0
    assert olga.student.attendance_rate == 1


def test_weeks_start_on_monday_and_include_empty_weeks(staff, month):
    weeks = attendance_report(user=staff, filters=MARCH).weeks

    assert [w.week_start for w in weeks] == [date(2026, 2, 23) + timedelta(weeks=i) for i in range(6)]
    counts = {w.week_start: w.counts for w in weeks}
    assert counts[date(2026, 3, 9)].sessions == 5  # s1 s2 s3 s8 s9
    assert counts[date(2026, 3, 9)].attendance_rate == 1
    assert counts[date(2026, 3, 16)].sessions == 3  # s4 absent, s5 excused, s6 late
    assert counts[date(2026, 3, 16)].attendance_rate == pytest.approx(1 / 2)
    assert counts[date(2026, 3, 23)].attendance_rate == 1  # s7
    assert counts[date(2026, 3, 2)].sessions == 0
    assert counts[date(2026, 3, 2)].attendance_rate is None


def test_a_tutor_sees_only_their_own_sessions(tutor, student, other_student, month):
    report = attendance_report(user=tutor, filters=MARCH)

    assert report.totals.sessions == 7
    assert [row.person_id for row in report.by_tutor] == [tutor.pk]
    rows = {row.person_id: row.figures for row in report.by_student}
    assert rows[student.pk].sessions == 4  # Otto's sessions with Sam are not hers
    assert rows[other_student.pk].sessions == 3
    assert report.agreement.decided == 12  # s8 (Otto's) is not hers
    assert report.agreement.applied == 2  # s4


@pytest.mark.parametrize(
    ("narrowing", "expected"),
    [
        ({"tutor": "otto"}, {"s8", "s9"}),
        ({"student": "olga"}, {"s5", "s6", "s7"}),
        ({"status": "late"}, {"s2", "s3", "s6", "s8"}),
        ({"source": "admin_override"}, {"s8"}),
        ({"date_from": date(2026, 3, 17), "date_to": date(2026, 3, 31)}, {"s4", "s5", "s6", "s7"}),
        ({"student": "sam", "status": "absent"}, {"s4"}),
    ],
)
def test_filters_narrow_the_sessions(staff, month, other_tutor, other_student, student, narrowing, expected):
    people = {"otto": other_tutor.pk, "olga": other_student.pk, "sam": student.pk}
    fields = {
        "tutor_id": people.get(narrowing.get("tutor")),
        "student_id": people.get(narrowing.get("student")),
        "status": narrowing.get("status", ""),
        "source": narrowing.get("source", ""),
        "date_from": narrowing.get("date_from", MARCH.date_from),
        "date_to": narrowing.get("date_to", MARCH.date_to),
    }
    sessions = set(report_sessions(user=staff, filters=ReportFilters(**fields)).values_list("pk", flat=True))
    assert sessions == {month[name].pk for name in expected}
    assert attendance_report(user=staff, filters=ReportFilters(**fields)).totals.sessions == len(expected)


def test_date_range_is_in_the_business_time_zone(staff, tutor, student, settings):
    settings.TIME_ZONE = "Europe/London"
    # 23:30 UTC on 30 June is 00:30 on 1 July in London (BST, UTC+1).
    start = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)
    TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=start, scheduled_end=start + timedelta(hours=1)
    )

    july = ReportFilters(date_from=date(2026, 7, 1), date_to=date(2026, 7, 31))
    june = ReportFilters(date_from=date(2026, 6, 1), date_to=date(2026, 6, 30))
    assert attendance_report(user=staff, filters=july).totals.sessions == 1
    assert attendance_report(user=staff, filters=june).totals.sessions == 0
    weeks = attendance_report(user=staff, filters=july).weeks
    assert weeks[0].week_start == date(2026, 6, 29)  # the Monday of the week holding 1 July
    assert weeks[0].counts.sessions == 1


def fresh(session):
    """The session as stored now (the presence service wrote its whiteboard behind our copy's back)."""
    return TutoringSession.objects.select_related("whiteboard").get(pk=session.pk)


def test_figures_from_real_marking_through_the_services(tutor, student, staff):
    """End to end: presence through the presence service, decisions through the attendance service."""
    start = T0
    accepted = TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=start, scheduled_end=start + timedelta(minutes=30)
    )
    presence_trace(accepted.whiteboard, tutor, start - timedelta(minutes=1), start + timedelta(minutes=30))
    presence_trace(accepted.whiteboard, student, start + timedelta(minutes=10), start + timedelta(minutes=30))
    attendance_apply_suggestion(session=fresh(accepted), by=tutor, now=start + timedelta(minutes=40))

    second = start + timedelta(days=1)
    changed = TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=second, scheduled_end=second + timedelta(minutes=30)
    )
    presence_trace(changed.whiteboard, tutor, second - timedelta(minutes=1), second + timedelta(minutes=30))
    presence_trace(changed.whiteboard, student, second, second + timedelta(minutes=30))
    # The evidence says present; the tutor knows better (excused for a family matter).
    attendance_mark_by_hand(
        session=fresh(changed),
        by=tutor,
        tutor_status=None,
        student_status="excused",
        notes="family matter",
        now=second + timedelta(minutes=40),
    )

    report = attendance_report(user=staff, filters=MARCH)
    assert report.totals.student.late == 1
    assert report.totals.late_minutes == pytest.approx(10)
    assert report.totals.student.excused == 1
    by_status = {line.status: line for line in report.agreement.lines}
    # The accepted suggestion is counted apart; the tutor chose only the student's status in the other.
    assert (report.agreement.decided, report.agreement.kept, report.agreement.applied) == (1, 0, 2)
    assert (by_status["late"].suggested["student"], by_status["late"].applied["student"]) == (0, 1)
    assert (by_status["present"].suggested["student"], by_status["present"].kept["student"]) == (1, 0)


def test_sessions_without_a_whiteboard_still_count(staff, tutor, student):
    UserFactory()  # noise
    held(tutor, student, 0, student_status="late", whiteboard=False)
    totals = attendance_report(user=staff, filters=MARCH).totals
    assert totals.sessions == 1
    assert totals.student.late == 1
    assert totals.late_minutes is None
