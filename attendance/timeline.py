"""Geometry of the presence timeline picture: pure, so the page draws it as SVG on the server (and it prints)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from whiteboard.presence import parse_time

WIDTH = 720
LABEL_WIDTH = 84
ROW_HEIGHT = 34
TOP = 26


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Row:
    label: str
    y: float
    spans: list[Bar]
    hidden: list[Bar]


@dataclass(frozen=True)
class Tick:
    x: float
    at: datetime


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    rows: list[Row]
    ticks: list[Tick]
    window: Bar  # the scheduled window
    now_x: float | None


def build_timeline(
    *, scheduled_start: datetime, scheduled_end: datetime, spans_by_label: dict[str, list[dict]], now: datetime
) -> Timeline:
    """Lay out each participant's presence spans (and hidden parts) against the scheduled window."""
    parsed = {
        label: [(parse_time(s["start"]), parse_time(s["end"]), s.get("hidden", [])) for s in spans]
        for label, spans in spans_by_label.items()
    }
    moments = [t for spans in parsed.values() for start, end, _ in spans for t in (start, end)]
    # The picture shows the window with a margin, widened to include early joiners and late stayers.
    margin = max(timedelta(minutes=5), (scheduled_end - scheduled_start) / 12)
    left = min([scheduled_start - margin, *moments])
    right = max([scheduled_end + margin, *moments])
    span_seconds = max(1.0, (right - left).total_seconds())
    plot_width = WIDTH - LABEL_WIDTH - 8

    def x(moment: datetime) -> float:
        return round(LABEL_WIDTH + plot_width * (moment - left).total_seconds() / span_seconds, 1)

    def bar(start: datetime, end: datetime) -> Bar:
        return Bar(x(start), max(1.5, round(x(end) - x(start), 1)), start, end)

    rows = []
    for index, (label, spans) in enumerate(parsed.items()):
        hidden = [bar(parse_time(s), parse_time(e)) for _, _, intervals in spans for s, e in intervals]
        rows.append(Row(label, TOP + index * ROW_HEIGHT, [bar(s, e) for s, e, _ in spans], hidden))

    step = _tick_step(right - left)
    first_tick = left.replace(minute=0, second=0, microsecond=0)
    ticks = []
    moment = first_tick
    while moment <= right:
        if moment >= left:
            ticks.append(Tick(x(moment), moment))
        moment += step
    now_x = x(now) if left <= now <= right else None
    height = TOP + len(rows) * ROW_HEIGHT + 8
    return Timeline(WIDTH, height, rows, ticks, bar(scheduled_start, scheduled_end), now_x)


def _tick_step(length: timedelta) -> timedelta:
    for minutes in (5, 10, 15, 30, 60, 120, 240):
        if length / timedelta(minutes=minutes) <= 8:
            return timedelta(minutes=minutes)
    return timedelta(hours=6)
