"""Geometry of the report's charts: pure, so the page draws them as SVG on the server.

No JavaScript and nothing fetched from elsewhere: the charts work offline and print. Every
mark carries its numbers in a <title>, and the page shows the same numbers as a table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reports.figures import STATUS_LABELS, STATUSES, Figures, StatusCounts, WeekPoint, percent


def day_month(day) -> str:
    """9 Mar (portable: strftime's %-d is not)."""
    return f"{day.day} {day:%b}"


# --- attendance rate over weeks -------------------------------------------------

WEEK_WIDTH = 720
WEEK_HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 16, 40
MAX_X_LABELS = 10


@dataclass(frozen=True)
class Column:
    x: float
    y: float
    width: float
    height: float
    label_x: float
    value_label: str  # printed above the column when there is room
    title: str  # what a hover or a screen reader tells
    point: WeekPoint
    show_label: bool
    empty: bool


@dataclass(frozen=True)
class GridLine:
    y: float
    label: str


@dataclass(frozen=True)
class WeeklyChart:
    width: int
    height: int
    plot_left: float
    plot_right: float
    baseline: float
    columns: list[Column]
    grid: list[GridLine]
    show_values: bool
    description: str
    average_y: float | None  # the rate over the whole range, as a dashed line
    average_label: str  # said in the caption: a label inside the plot would collide with the columns'


def weekly_rate_chart(points: list[WeekPoint], *, overall: float | None = None) -> WeeklyChart:
    """Columns of the student attendance rate per week, 0 to 100 %, with gridlines every 25 %."""
    plot_width = WEEK_WIDTH - LEFT - RIGHT
    plot_height = WEEK_HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_height
    band = plot_width / max(1, len(points))
    column_width = min(48.0, band * 0.64)
    every = max(1, math.ceil(len(points) / MAX_X_LABELS))
    columns = []
    for i, point in enumerate(points):
        value = point.counts.attendance_rate
        height = (value or 0) * plot_height
        x = LEFT + band * i + (band - column_width) / 2
        counted = point.counts.sessions - point.counts.excused
        if point.counts.sessions == 0:
            title = f"Week of {day_month(point.week_start)}: no sessions"
        elif value is None:
            title = f"Week of {day_month(point.week_start)}: all {point.counts.sessions} sessions excused"
        else:
            title = (
                f"Week of {day_month(point.week_start)}: {percent(value)} "
                f"({point.counts.attended} of {counted} sessions attended)"
            )
        columns.append(
            Column(
                x=round(x, 1),
                y=round(baseline - height, 1),
                width=round(column_width, 1),
                height=round(height, 1),
                label_x=round(x + column_width / 2, 1),
                value_label=percent(value) if value is not None else "",
                title=title,
                point=point,
                show_label=i % every == 0,
                empty=value is None,
            )
        )
    grid = [
        GridLine(y=round(baseline - plot_height * share, 1), label=f"{round(share * 100)}%")
        for share in (0, 0.25, 0.5, 0.75, 1)
    ]
    return WeeklyChart(
        width=WEEK_WIDTH,
        height=WEEK_HEIGHT,
        plot_left=LEFT,
        plot_right=WEEK_WIDTH - RIGHT,
        baseline=baseline,
        columns=columns,
        grid=grid,
        show_values=len(points) <= 16,
        description=_weekly_description(points, overall),
        average_y=None if overall is None else round(baseline - overall * plot_height, 1),
        average_label="" if overall is None else percent(overall),
    )


def _weekly_description(points: list[WeekPoint], overall: float | None) -> str:
    rated = [p for p in points if p.counts.attendance_rate is not None]
    if not rated:
        return "No attended or missed sessions in this range."
    average = "" if overall is None else f" Over the whole range: {percent(overall)}."
    low = min(rated, key=lambda p: p.counts.attendance_rate)
    high = max(rated, key=lambda p: p.counts.attendance_rate)
    return (
        f"{len(points)} weeks. Highest: {percent(high.counts.attendance_rate)} in the week of {day_month(high.week_start)}; "
        f"lowest: {percent(low.counts.attendance_rate)} in the week of {day_month(low.week_start)}.{average}"
    )


# --- status mix -----------------------------------------------------------------

MIX_WIDTH = 400
MIX_LABEL = 70
MIX_BAR = 30
MIX_ROW = 50
MIX_TOP = 8
MIX_PLOT = MIX_WIDTH - MIX_LABEL - 4
MIN_LABELLED_WIDTH = 34  # narrower segments keep their number in the table and the title only


@dataclass(frozen=True)
class Segment:
    status: str
    label: str
    x: float
    width: float
    count: int
    share: float
    text: str  # printed inside the segment when it fits


@dataclass(frozen=True)
class MixRow:
    label: str
    y: float
    total: int
    segments: list[Segment]


@dataclass(frozen=True)
class MixChart:
    width: int
    height: int
    bar_height: int
    plot_width: int
    label_width: int
    rows: list[MixRow]
    description: str


def _mix_row(label: str, counts: StatusCounts, y: float) -> MixRow:
    x, segments = float(MIX_LABEL), []
    for status in STATUSES:
        count = counts.count(status)
        if not count:
            continue
        share = count / counts.sessions
        width = MIX_PLOT * share
        segments.append(
            Segment(
                status=status,
                label=STATUS_LABELS[status],
                x=round(x, 1),
                width=round(width, 1),
                count=count,
                share=share,
                text=percent(share) if width >= MIN_LABELLED_WIDTH else "",
            )
        )
        x += width
    return MixRow(label=label, y=y, total=counts.sessions, segments=segments)


def status_mix_chart(totals: Figures) -> MixChart:
    """Two 100 % bars, students and tutors, split by attendance status."""
    rows = [
        _mix_row("Students", totals.student, MIX_TOP),
        _mix_row("Tutors", totals.tutor, MIX_TOP + MIX_ROW),
    ]
    described = "; ".join(
        f"{row.label}: " + (", ".join(f"{s.label.lower()} {percent(s.share)}" for s in row.segments) or "no sessions")
        for row in rows
    )
    return MixChart(
        width=MIX_WIDTH,
        height=MIX_TOP + MIX_ROW * len(rows) - (MIX_ROW - MIX_BAR),
        bar_height=MIX_BAR,
        plot_width=MIX_PLOT,
        label_width=MIX_LABEL,
        rows=rows,
        description=described + ".",
    )


# --- reliability: rule confidence against observed agreement (issue 19) ------------

REL_WIDTH = 440
REL_HEIGHT = 320
REL_LEFT, REL_RIGHT, REL_TOP, REL_BOTTOM = 48, 16, 16, 44


@dataclass(frozen=True)
class ReliabilityMark:
    x: float  # column
    y: float
    width: float
    height: float
    dot_x: float  # mean confidence, observed agreement
    dot_y: float
    radius: float
    title: str


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class ReliabilityChart:
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_top: float
    baseline: float
    diagonal: tuple[float, float, float, float]
    marks: list[ReliabilityMark]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    description: str


def reliability_chart(bins) -> ReliabilityChart:
    """Per confidence bin: a column up to the observed agreement, a dot at (mean confidence, observed)
    sized by how many decisions it holds, and the diagonal where a perfectly calibrated suggestion lies."""
    plot_w = REL_WIDTH - REL_LEFT - REL_RIGHT
    plot_h = REL_HEIGHT - REL_TOP - REL_BOTTOM
    baseline = REL_TOP + plot_h

    def x_of(value: float) -> float:
        return round(REL_LEFT + value * plot_w, 1)

    def y_of(value: float) -> float:
        return round(baseline - value * plot_h, 1)

    largest = max((b.count for b in bins), default=0) or 1
    marks = []
    for b in bins:
        if not b.count:
            continue
        left, right = x_of(b.low) + 2, x_of(b.high) - 2
        marks.append(
            ReliabilityMark(
                x=left,
                y=y_of(b.observed),
                width=round(right - left, 1),
                height=round(b.observed * plot_h, 1),
                dot_x=x_of(b.mean_confidence),
                dot_y=y_of(b.observed),
                radius=round(3 + 5 * math.sqrt(b.count / largest), 1),
                title=(
                    f"Confidence {b.label}: {b.count} decision{'s' if b.count != 1 else ''}, "
                    f"mean confidence {percent(b.mean_confidence)}, kept {percent(b.observed)}"
                ),
            )
        )
    ticks = [Tick(at=share, label=f"{round(share * 100)}%") for share in (0, 0.25, 0.5, 0.75, 1)]
    filled = [b for b in bins if b.count]
    if filled:
        worst = max(filled, key=lambda b: abs(b.gap))
        description = (
            f"{sum(b.count for b in filled)} decisions in {len(filled)} confidence bins. Largest gap: "
            f"confidence {worst.label}, people kept {percent(worst.observed)} against a mean confidence "
            f"of {percent(worst.mean_confidence)}."
        )
    else:
        description = "No decisions to compare yet."
    return ReliabilityChart(
        width=REL_WIDTH,
        height=REL_HEIGHT,
        plot_left=REL_LEFT,
        plot_right=REL_WIDTH - REL_RIGHT,
        plot_top=REL_TOP,
        baseline=baseline,
        diagonal=(x_of(0), y_of(0), x_of(1), y_of(1)),
        marks=marks,
        x_ticks=[Tick(at=x_of(t.at), label=t.label) for t in ticks],
        y_ticks=[Tick(at=y_of(t.at), label=t.label) for t in ticks],
        description=description,
    )
