"""Geometry of the presence timeline: pure, so the page draws it on the server (and it prints).

Positions are percentages of the plot's width, so the picture stretches to any screen while
its words (row names, tick labels) stay HTML text at a readable size, never scaled down.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from whiteboard.presence import parse_time

# Within this many percent of either edge a tick label is aligned to that edge, so it is never cut
# (a label is about 15 % of the plot on a 390 px phone, 6 % on a desktop).
EDGE = 10.0


@dataclass(frozen=True)
class Bar:
    x: float  # percent of the plot's width
    width: float  # percent
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Row:
    label: str
    spans: list[Bar]
    hidden: list[Bar]


@dataclass(frozen=True)
class Tick:
    x: float  # percent
    at: datetime
    align: str  # start | middle | end: how its label sits on it
    major: bool  # minor ticks' labels give way on narrow screens


@dataclass(frozen=True)
class Timeline:
    rows: list[Row]
    ticks: list[Tick]
    window: Bar  # the scheduled window
    now_x: float | None
    # Outage gaps (whiteboard/outages.py): the server heard nothing from anyone; presence there is unknown.
    unknown: list[Bar] = field(default_factory=list)


def build_timeline(
    *,
    scheduled_start: datetime,
    scheduled_end: datetime,
    spans_by_label: dict[str, list[dict]],
    now: datetime,
    unknown: list[tuple[datetime, datetime]] = (),
) -> Timeline:
    """Lay out each participant's presence spans (and hidden parts) against the scheduled window.

    `unknown`: stretches in which the server heard nothing from anyone, drawn across every row
    (hatched) so a gap in a bar there reads as "unknown", not "not there".
    """
    parsed = {
        label: [(parse_time(s["start"]), parse_time(s["end"]), s.get("hidden", [])) for s in spans]
        for label, spans in spans_by_label.items()
    }
    moments = [t for spans in parsed.values() for start, end, _ in spans for t in (start, end)]
    moments += [t for pair in unknown for t in pair]
    # The picture shows the window with a margin, widened to include early joiners and late stayers.
    margin = max(timedelta(minutes=5), (scheduled_end - scheduled_start) / 12)
    left = min([scheduled_start - margin, *moments])
    right = max([scheduled_end + margin, *moments])
    span_seconds = max(1.0, (right - left).total_seconds())

    def x(moment: datetime) -> float:
        return round(100 * (moment - left).total_seconds() / span_seconds, 2)

    def bar(start: datetime, end: datetime) -> Bar:
        return Bar(x(start), max(0.3, round(x(end) - x(start), 2)), start, end)

    rows = []
    for label, spans in parsed.items():
        hidden = [bar(parse_time(s), parse_time(e)) for _, _, intervals in spans for s, e in intervals]
        rows.append(Row(label, [bar(s, e) for s, e, _ in spans], hidden))

    step = _tick_step(right - left)
    moment = left.replace(minute=0, second=0, microsecond=0)
    ticks = []
    while moment <= right:
        if moment >= left:
            position = x(moment)
            align = "start" if position < EDGE else "end" if position > 100 - EDGE else "middle"
            ticks.append(Tick(position, moment, align, major=len(ticks) % 2 == 0))
        moment += step
    now_x = x(now) if left <= now <= right else None
    return Timeline(rows, ticks, bar(scheduled_start, scheduled_end), now_x, [bar(s, e) for s, e in unknown])


def _tick_step(length: timedelta) -> timedelta:
    for minutes in (5, 10, 15, 30, 60, 120, 240):
        if length / timedelta(minutes=minutes) <= 8:
            return timedelta(minutes=minutes)
    return timedelta(hours=6)
