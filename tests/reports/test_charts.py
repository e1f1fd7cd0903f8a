"""Chart geometry: pure, checked without rendering."""

from datetime import date, timedelta

import pytest

from reports.charts import WEEK_HEIGHT, day_month, status_mix_chart, weekly_rate_chart
from reports.figures import Figures, StatusCounts, WeekPoint


def week(i, **counts):
    return WeekPoint(
        week_start=date(2026, 1, 5) + timedelta(weeks=i), counts=StatusCounts(sessions=sum(counts.values()), **counts)
    )


def test_column_height_follows_the_attendance_rate():
    chart = weekly_rate_chart([week(0, present=4), week(1, present=1, absent=1), week(2)])
    full, half, empty = chart.columns
    assert full.height == pytest.approx(2 * half.height, abs=0.2)
    assert full.y + full.height == pytest.approx(chart.baseline)
    assert chart.baseline < WEEK_HEIGHT
    assert full.value_label == "100%"
    assert half.title == "Week of 12 Jan: 50% (1 of 2 sessions attended)"
    assert empty.empty and empty.title == "Week of 19 Jan: no sessions"
    assert [g.label for g in chart.grid] == ["0%", "25%", "50%", "75%", "100%"]
    assert "Highest: 100% in the week of 5 Jan; lowest: 50% in the week of 12 Jan." in chart.description


def test_a_year_of_weeks_gets_a_few_labels_and_no_value_labels():
    chart = weekly_rate_chart([week(i, present=1) for i in range(52)])
    assert sum(c.show_label for c in chart.columns) <= 10
    assert not chart.show_values
    assert all(c.x + c.width <= chart.plot_right for c in chart.columns)


def test_all_excused_week_has_no_rate():
    (column,) = weekly_rate_chart([week(0, excused=2)]).columns
    assert column.empty
    assert column.title == "Week of 5 Jan: all 2 sessions excused"


def test_status_mix_segments_fill_the_bar_in_proportion():
    totals = Figures(
        tutor=StatusCounts(sessions=10, present=10),
        student=StatusCounts(sessions=20, present=12, late=4, left_early=3, absent=1),
        no_shows=1,
        late_minutes=None,
        late_measured=0,
    )
    chart = status_mix_chart(totals)
    students, tutors = chart.rows
    assert [s.status for s in students.segments] == ["present", "late", "left_early", "absent"]
    widths = [s.width for s in students.segments]
    assert widths[0] == pytest.approx(4 * widths[2], rel=0.01)
    assert sum(widths) == pytest.approx(tutors.segments[0].width, abs=0.5)
    assert students.segments[0].text == "60%"
    assert students.segments[3].text == ""  # 5% is too narrow for its number; the title and the table have it
    assert chart.description == "Students: present 60%, late 20%, left early 15%, absent 5%; Tutors: present 100%."


def test_day_month_is_portable():
    assert day_month(date(2026, 3, 9)) == "9 Mar"
