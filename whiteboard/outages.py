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

Read-only: `outage_gaps` is one query on the connections (index `wb_conn_closed_at`), computed for
the stretch asked about, so a gap found late (the server's first signals after a long outage) is
seen by every page and job from then on.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from whiteboard.models import Connection

# How far before the stretch asked about to read connections: a gap starting earlier still overlaps
# it, and lasts at most until the presence window of a session running at its start closes.
LOOKBACK = timedelta(hours=12)


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


def outage_gaps(*, start: datetime, end: datetime, now: datetime | None = None) -> list[OutageGap]:
    """The outage gaps overlapping [start, end], as known at `now`. One query."""
    now = now or timezone.now()
    join_window = timedelta(minutes=settings.PRESENCE["JOIN_WINDOW_MINUTES"])
    rows = (
        Connection.objects.filter(opened_at__lt=max(end, start))
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gte=start - LOOKBACK))
        .values_list(
            "opened_at",
            "last_signal_at",
            "expires_at",
            "closed_at",
            "close_reason",
            "whiteboard__tutoring_session__scheduled_end",
        )
    )
    heard = [
        Heard(
            start=opened_at,
            # Still alive: the server is listening to it now (a hidden tab may beat only once a minute).
            end=now if closed_at is None and expires_at >= now else last_signal_at,
            left=reason == Connection.CloseReason.DISCONNECT,
            # A whiteboard without a session (none in practice) is expected for no longer than it was heard.
            expected_until=(scheduled_end + join_window) if scheduled_end else last_signal_at,
        )
        for opened_at, last_signal_at, expires_at, closed_at, reason, scheduled_end in rows
    ]
    conf = settings.PRESENCE
    found = find_outage_gaps(
        heard,
        now=now,
        min_seconds=conf["OUTAGE_MIN_SECONDS"],
        just_before=timedelta(seconds=conf["TIMEOUT_VISIBLE"]),
    )
    return [gap for gap in found if gap.overlaps(start, end)]
