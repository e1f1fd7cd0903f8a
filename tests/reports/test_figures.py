"""Pure report computations: rates, weeks and agreement, on plain rows (no database)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from reports.figures import Figures, StatusCounts, agreement, fill_weeks, minutes, percent, rate


def counts_row(**counts):
    row = {"sessions": sum(counts.values())}
    for role in ("tutor", "student"):
        for status in ("present", "late", "left_early", "absent", "excused"):
            row[f"{role}_{status}"] = counts.get(status, 0) if role == "student" else 0
    return row


def test_rate_is_none_when_there_is_nothing_to_divide_by():
    assert rate(1, 4) == 0.25
    assert rate(0, 0) is None
    assert percent(None) == "\u2013"
    assert percent(2 / 3) == "67%"


def test_attendance_rate_leaves_excused_sessions_out():
    counts = StatusCounts(sessions=10, present=5, late=2, left_early=1, absent=1, excused=1)
    assert counts.attended == 8
    assert counts.attendance_rate == pytest.approx(8 / 9)
    assert counts.rate("absent") == pytest.approx(1 / 10)
    assert StatusCounts(sessions=2, excused=2).attendance_rate is None


def test_figures_from_an_aggregate_row():
    row = counts_row(present=3, absent=1) | {"late_average": timedelta(minutes=7, seconds=30), "late_measured": 2}
    figures = Figures.from_aggregate(row)
    assert figures.sessions == 4
    assert figures.no_shows == 1
    assert figures.no_show_rate == 0.25
    assert figures.late_minutes == 7.5
    assert (
        Figures.from_aggregate(counts_row(present=1) | {"late_average": None, "late_measured": 0}).late_minutes is None
    )


def test_minutes_accepts_a_timedelta_or_microseconds():
    assert minutes(timedelta(minutes=3)) == 3
    assert minutes(90_000_000) == 1.5


def test_fill_weeks_adds_the_empty_weeks():
    rows = [counts_row(present=2) | {"week": datetime(2026, 3, 9, tzinfo=UTC)}]
    weeks = fill_weeks(rows, date_from=date(2026, 3, 4), date_to=date(2026, 3, 22))
    assert [w.week_start for w in weeks] == [date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)]
    assert [w.counts.sessions for w in weeks] == [0, 2, 0]
    assert weeks[1].week_end == date(2026, 3, 15)


def combo(suggested_tutor, suggested_student, tutor, student, source="manual", n=1):
    return {
        "suggested_tutor": suggested_tutor,
        "suggested_student": suggested_student,
        "tutor_attendance_status": tutor,
        "student_attendance_status": student,
        "attendance_source": source,
        "n": n,
    }


def test_agreement_counts_kept_and_changed_by_suggested_status():
    result = agreement(
        [
            combo("present", "present", "present", "present", n=5),
            combo("present", "present", "present", "late", n=2),
            combo("present", "absent", "present", "excused"),
            combo(None, None, "present", "present", source="system_default", n=4),
        ]
    )
    assert result.sessions == 12
    assert result.compared == 8
    assert result.both_kept == 5
    present, absent = result.line("present"), result.line("absent")
    assert (present.suggested["student"], present.kept["student"], present.changed("student")) == (7, 5, 2)
    assert (absent.suggested["student"], absent.kept["student"]) == (1, 0)
    assert (present.suggested["tutor"], present.kept["tutor"]) == (8, 8)
    assert present.rate("student") == pytest.approx(5 / 7)


def test_an_accepted_suggestion_counts_as_kept():
    result = agreement([combo("present", "late", "present", "present", source="whiteboard_auto")])
    assert result.both_kept == 1
    assert result.line("late").kept["student"] == 1


def test_agreement_with_no_suggestions_has_no_rate():
    result = agreement([combo(None, None, "present", "present", n=3)])
    assert result.compared == 0
    assert result.rate is None
    assert all(line.rate("student") is None for line in result.lines)
