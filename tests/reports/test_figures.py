"""Pure report computations: rates, weeks and agreement, on plain rows (no database)."""

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

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


def decision(role, suggested, decided, *, chosen=True, confidence=0.9):
    return SimpleNamespace(role=role, suggested=suggested, decided=decided, chosen=chosen, confidence=confidence)


def test_agreement_counts_kept_and_changed_by_suggested_status():
    result = agreement(
        [
            *[decision("student", "present", "present")] * 5,
            *[decision("student", "present", "late")] * 2,
            decision("student", "absent", "excused"),
            *[decision("tutor", "present", "present")] * 8,
        ]
    )
    assert (result.decided, result.kept, result.applied) == (16, 13, 0)
    present, absent = result.line("present"), result.line("absent")
    assert (present.suggested["student"], present.kept["student"], present.changed("student")) == (7, 5, 2)
    assert (absent.suggested["student"], absent.kept["student"]) == (1, 0)
    assert (present.suggested["tutor"], present.kept["tutor"]) == (8, 8)
    assert present.rate("student") == pytest.approx(5 / 7)


def test_an_applied_suggestion_is_counted_apart_and_never_raises_the_rate():
    chosen = [decision("student", "late", "present"), decision("student", "late", "late")]
    applied = [decision("student", "late", "late", chosen=False)] * 10
    result = agreement(chosen + applied)
    assert (result.decided, result.kept, result.applied) == (2, 1, 10)
    assert result.rate == pytest.approx(0.5)
    assert result.line("late").applied["student"] == 10


def test_agreement_with_no_decisions_has_no_rate():
    result = agreement([decision("student", "present", "present", chosen=False)] * 3)
    assert result.decided == 0
    assert result.rate is None
    assert all(line.rate("student") is None for line in result.lines)
