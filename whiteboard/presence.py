"""Pure presence arithmetic over plain data: timeouts, spans and totals.

A participant's presence is a list of spans, each `{"start", "end", "hidden": [[s, e], ...]}`
with ISO 8601 UTC strings. Nothing here touches the database, so the HTTP API, a
WebSocket consumer and batch jobs share the same rules.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings

from core.errors import DomainError
from whiteboard.models import Visibility


@dataclass(frozen=True)
class PresenceSettings:
    heartbeat_interval: int
    timeout_visible: int
    timeout_hidden: int

    @classmethod
    def current(cls) -> "PresenceSettings":
        conf = settings.PRESENCE
        return cls(conf["HEARTBEAT_INTERVAL"], conf["TIMEOUT_VISIBLE"], conf["TIMEOUT_HIDDEN"])

    def timeout(self, visibility: str) -> timedelta:
        seconds = self.timeout_hidden if visibility == Visibility.HIDDEN else self.timeout_visible
        return timedelta(seconds=seconds)


@dataclass(frozen=True)
class PresenceWindow:
    """When presence can be recorded for a session: from `opens_at` (inclusive) to `closes_at` (exclusive)."""

    opens_at: datetime
    closes_at: datetime

    def contains(self, moment: datetime) -> bool:
        return self.opens_at <= moment < self.closes_at


def presence_window(*, scheduled_start: datetime, scheduled_end: datetime) -> PresenceWindow:
    """The session's presence window: PRESENCE["JOIN_WINDOW_MINUTES"] either side of its schedule.

    The one home of the join-window rule: the pages offer "join" inside it, and the presence
    doors (HTTP connect, the WebSocket) record presence only inside it.
    """
    margin = timedelta(minutes=settings.PRESENCE["JOIN_WINDOW_MINUTES"])
    return PresenceWindow(scheduled_start - margin, scheduled_end + margin)


def presence_window_check(*, session, now: datetime) -> None:
    """Raise `outside_presence_window` (with `opens_at` and `closes_at`) unless `now` is inside `session`'s window.

    Every presence door calls it before recording a connection: the HTTP connect answers 409 with
    the window in its body, the WebSocket closes with 4408.
    """
    window = presence_window(scheduled_start=session.scheduled_start, scheduled_end=session.scheduled_end)
    if window.contains(now):
        return
    when = "opens" if now < window.opens_at else "closed"
    moment = window.opens_at if now < window.opens_at else window.closes_at
    raise DomainError(
        f"The whiteboard {when} at {moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC: presence is recorded only from "
        f"{settings.PRESENCE['JOIN_WINDOW_MINUTES']} minutes before the session until as long after it.",
        "outside_presence_window",
        opens_at=window.opens_at,
        closes_at=window.closes_at,
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def start_span(spans: list[dict], *, at: datetime) -> list[dict]:
    """A new stretch of presence begins at `at` (first join or a return after an absence)."""
    return [*spans, {"start": _iso(at), "end": _iso(at), "hidden": []}]


def extend_span(spans: list[dict], *, since: datetime, until: datetime, hidden: bool) -> list[dict]:
    """Presence continued from `since` (the previous signal) to `until`; hidden if no tab was visible."""
    if not spans:
        return start_span(spans, at=until)
    last = dict(spans[-1])
    if until <= parse_time(last["end"]):
        return spans  # a late or repeated signal adds nothing
    last["end"] = _iso(until)
    if hidden:
        intervals = [list(pair) for pair in last["hidden"]]
        if intervals and parse_time(intervals[-1][1]) >= since:
            intervals[-1][1] = _iso(until)
        else:
            intervals.append([_iso(max(since, parse_time(last["start"]))), _iso(until)])
        last["hidden"] = intervals
    return [*spans[:-1], last]


def _seconds(start: str, end: str) -> float:
    return max(0.0, (parse_time(end) - parse_time(start)).total_seconds())


def span_totals(spans: list[dict]) -> tuple[int, int]:
    """(active seconds, hidden seconds), computed from the spans so rounding never accumulates."""
    active = sum(_seconds(span["start"], span["end"]) for span in spans)
    hidden = sum(_seconds(s, e) for span in spans for s, e in span["hidden"])
    return round(active), round(hidden)


def fold_tail(
    spans: list[dict], *, last_activity_at: datetime | None, signals: list[tuple[datetime, str]]
) -> tuple[list[dict], datetime | None]:
    """Catch the spans up with heartbeats the fast path recorded only on the connections.

    `signals` are the participant's open connections' `(last_signal_at, visibility)`, expired
    ones included. Each of their chains of signals runs continuously from at or before
    `last_activity_at` (connects and visibility changes take the locked path, which moves it),
    so everything from there to the latest signal is presence: visible up to the last signal of
    a visible connection, hidden after it. Returns the spans and the new last activity.
    """
    if last_activity_at is None:
        return spans, last_activity_at
    end = max([last_activity_at, *(at for at, _ in signals)])
    visible_end = max([last_activity_at, *(at for at, visibility in signals if visibility == Visibility.VISIBLE)])
    if visible_end > last_activity_at:
        spans = extend_span(spans, since=last_activity_at, until=visible_end, hidden=False)
    if end > visible_end:
        spans = extend_span(spans, since=visible_end, until=end, hidden=True)
    return spans, end
