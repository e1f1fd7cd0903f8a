"""Outage gaps: stretches when the server itself heard nothing from anyone, so presence then is unknown.

A deploy or an outage looks, on each whiteboard alone, exactly like the participants leaving: their
connections stop at their last signal and lapse. Across every whiteboard it does not: everyone goes
quiet at once. So a gap is read from the server's own record of signals, the connection rows, that
every door already keeps (HTTP heartbeats, the sockets' batched liveness, connects, disconnects):
no new table, and not one write more per heartbeat.

Each connection was heard without a break from `opened_at` to `last_signal_at` (a break longer than
its timeout closes it; a socket's node closes a silent socket itself), so the union of those
stretches over all whiteboards is when the server was hearing someone. A hole in that union is an
outage gap when all of these hold:

- it lasts at least PRESENCE["OUTAGE_MIN_SECONDS"] (default 90 s: two missed heartbeats of a
  visible tab past its 45 s timeout; the union has no holes at all while one tab anywhere beats);
- someone was connected just before it and did not leave: a connection ending (within the visible
  timeout) before the hole lapsed or is still open, rather than being disconnected. A deploy
  does exactly that (a node restarting does not disconnect its sockets: whiteboard/consumers.py),
  whereas people who close the whiteboard disconnect;
- it counts only while those people's sessions still ran (their presence window's end): silence
  after the last session of the evening is not an outage.

What this cannot tell apart: when the only person connected anywhere loses their network, the
server heard nothing from anyone, as in an outage. That is accepted on purpose: a false gap costs
a lowered confidence and a person's decision, while a missed outage lets the finaliser mark an
absence the server simply did not hear.

Read-only, computed for the stretch asked about, so a gap found late (the server's first signals
after a long outage) is seen by every page and job from then on: `outage_gaps` is one query
(indexes `wb_conn_closed_at`, `wb_conn_opened_at`) that finds the silences in the database and
returns only those, plus, when there are silences, one query for who was heard just before them.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Case, DateTimeField, ExpressionWrapper, F, Max, Q, Subquery, Value, When, Window
from django.db.models.expressions import RowRange
from django.utils import timezone

from whiteboard.models import Connection

# How far before the stretch asked about to read connections: a gap starting earlier still overlaps
# it, and lasts at most until the presence window of a session running at its start closes, so this
# is the longest session plus its join window that a gap is traced across (longer ones: gaps
# starting more than this before the stretch are not seen).
LOOKBACK = timedelta(hours=6)


@dataclass(frozen=True)
class Heard:
    """One connection as the server heard it: without a break from `start` to `end`."""

    start: datetime
    end: datetime
    left: bool  # ended by a disconnect (the person left), not by lapsing
    expected_until: datetime  # the end of its session's presence window


@dataclass(frozen=True)
class OutageGap:
    """A stretch in which the server heard nothing from anyone while sessions ran: presence then is unknown."""

    start: datetime
    end: datetime
    ongoing: bool = False  # still silent at `now`: `end` is `now`

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and start < self.end


def find_outage_gaps(
    heard: list[Heard], *, now: datetime, min_seconds: float, just_before: timedelta
) -> list[OutageGap]:
    """The outage gaps in what the server heard (pure; the rules are in the module's docstring)."""
    ordered = sorted(heard, key=lambda h: h.start)
    gaps = []
    covered_until = None
    recent: list[Heard] = []  # the connections heard last before the current hole
    for i, h in enumerate(ordered):
        if covered_until is not None and h.start > covered_until:
            gap = _gap(recent, start=covered_until, next_heard=h.start, now=now, min_seconds=min_seconds)
            if gap is not None:
                gaps.append(gap)
            recent = []
        if covered_until is None or h.end > covered_until:
            covered_until = h.end
        recent = [r for r in [*recent, h] if r.end >= covered_until - just_before]
        if i == len(ordered) - 1:
            gap = _gap(recent, start=covered_until, next_heard=None, now=now, min_seconds=min_seconds)
            if gap is not None:
                gaps.append(gap)
    return gaps


def _gap(recent: list[Heard], *, start, next_heard, now, min_seconds) -> OutageGap | None:
    """The hole from `start` to the next signal (None: none yet) if it is an outage gap."""
    expected = [h.expected_until for h in recent if not h.left]
    if not expected:
        return None  # everyone connected last left of their own accord
    end = min(next_heard or now, max(expected))
    ongoing = next_heard is None and end == now
    if end > now:
        return None
    if (end - start).total_seconds() < min_seconds:
        return None
    return OutageGap(start, end, ongoing)


def _heard_until(now: datetime):
    """When the server last heard a connection: now while it is open and alive (a hidden tab may beat only
    once a minute, and the server is still listening), else its last signal."""
    return Case(
        When(closed_at__isnull=True, expires_at__gte=now, then=Value(now)),
        default=F("last_signal_at"),
        output_field=DateTimeField(),
    )


def _heard_since(since: datetime):
    """Connections heard at or after `since`: open, or closed since then (closed_at >= last signal, indexed)."""
    return Connection.objects.filter(Q(closed_at__isnull=True) | Q(closed_at__gte=since))


def outage_gaps(*, start: datetime, end: datetime, now: datetime | None = None) -> list[OutageGap]:
    """The outage gaps overlapping [start, end], as known at `now`.

    One query finds the silences that may be gaps, in the database (the union's holes: each
    connection against the latest last signal of those opened before it, a window function; kept
    when long enough and someone who did not leave was heard just before), so no row per connection
    reaches Python; then, if there are any, one query (per 100 silences) reads who was heard just
    before each, and `find_outage_gaps` decides on those rows alone.
    """
    now = now or timezone.now()
    conf = settings.PRESENCE
    min_seconds = conf["OUTAGE_MIN_SECONDS"]
    just_before = timedelta(seconds=conf["TIMEOUT_VISIBLE"])
    order = [F("opened_at").asc(), F("pk").asc()]
    before = RowRange(start=None, end=-1)  # every connection opened before this one
    # When a connection that did not leave (lapsed, or open) was last heard: the only ones that make a silence a gap.
    lapsed_until = Case(When(~Q(close_reason=Connection.CloseReason.DISCONNECT), then=F("heard_until")))
    silences = (
        _heard_since(start - LOOKBACK)
        .filter(opened_at__lt=max(end, start))
        .annotate(heard_until=_heard_until(now))
        .annotate(
            covered_before=Window(Max("heard_until"), order_by=order, frame=before),
            lapsed_before=Window(Max(lapsed_until), order_by=order, frame=before),
            heard_last=Window(Max("heard_until")),
            lapsed_last=Window(Max(lapsed_until)),
            # The first connection opened at or after `end` (index `wb_conn_opened_at`; evaluated once).
            next_after=Subquery(
                Connection.objects.filter(opened_at__gte=max(end, start)).order_by("opened_at").values("opened_at")[:1]
            ),
        )
        # The first row always (it carries `heard_last`), then every connection opened after a long silence
        # that someone who did not leave was heard just before.
        .filter(
            Q(covered_before__isnull=True)
            | Q(
                opened_at__gte=ExpressionWrapper(
                    F("covered_before") + Value(timedelta(seconds=min_seconds)), output_field=DateTimeField()
                ),
                lapsed_before__gte=ExpressionWrapper(
                    F("covered_before") - Value(just_before), output_field=DateTimeField()
                ),
            )
        )
        .values_list("covered_before", "opened_at", "heard_last", "lapsed_last", "next_after")
    )
    rows = list(silences)
    candidates = [(silent_from, next_heard) for silent_from, next_heard, *_ in rows if silent_from is not None]
    if rows:
        _, _, heard_last, lapsed_last, next_after = rows[0]
        # Nobody opened before `end` was heard after `heard_last`: silent from then until the first
        # connection opened at or after `end` (none yet: silent still).
        silent = ((next_after or now) - heard_last).total_seconds() >= min_seconds
        if silent and lapsed_last is not None and lapsed_last >= heard_last - just_before:
            candidates.append((heard_last, next_after))
    # Over before the stretch asked about, or begun after it: nothing to decide.
    candidates = [(a, b) for a, b in candidates if not ((b is not None and b <= start) or a >= end)]
    before = _heard_just_before([a for a, _ in candidates], now=now, just_before=just_before)
    found = []
    for silent_from, next_heard in candidates:
        heard = list(before[silent_from])
        if next_heard is not None:  # the first signal after the silence: nobody expected from it on
            heard.append(Heard(next_heard, next_heard, left=True, expected_until=next_heard))
        found += find_outage_gaps(heard, now=now, min_seconds=min_seconds, just_before=just_before)
    return [gap for gap in found if gap.overlaps(start, end)]


CHUNK = 100  # silences per query of `_heard_just_before`


def _heard_just_before(
    moments: list[datetime], *, now: datetime, just_before: timedelta
) -> dict[datetime, list[Heard]]:
    """For each moment a silence began, the connections last heard within `just_before` of it, as `Heard`.

    One query per CHUNK silences (none without silences), so a list's queries do not grow with its rows.
    """
    join_window = timedelta(minutes=settings.PRESENCE["JOIN_WINDOW_MINUTES"])
    found: dict[datetime, list[Heard]] = {moment: [] for moment in moments}
    ordered = sorted(found)
    for first in range(0, len(ordered), CHUNK):
        chunk = ordered[first : first + CHUNK]
        near = Q()
        for moment in chunk:
            near |= Q(opened_at__lte=moment, heard_until__gte=moment - just_before, heard_until__lte=moment)
        rows = (
            _heard_since(chunk[0] - just_before)
            .annotate(heard_until=_heard_until(now))
            .filter(near)
            .values_list("opened_at", "heard_until", "close_reason", "whiteboard__tutoring_session__scheduled_end")
        )
        for opened_at, heard_until, reason, scheduled_end in rows:
            heard = Heard(
                start=opened_at,
                end=heard_until,
                left=reason == Connection.CloseReason.DISCONNECT,
                # A whiteboard without a session (none in practice) is expected for no longer than it was heard.
                expected_until=(scheduled_end + join_window) if scheduled_end else heard_until,
            )
            for moment in chunk:
                if opened_at <= moment and moment - just_before <= heard_until <= moment:
                    found[moment].append(heard)
    return found
