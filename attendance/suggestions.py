"""Suggest attendance for a tutoring session from whiteboard presence evidence.

Pure functions over frozen dataclasses: no database and no Django at import time,
so the API, the web pages and the finalising batch job all share one judgement.

Long because: measurement, judgement, confidence and the reasons that explain
them are one rule read top to bottom, with what outage gaps do to it, the board's
engagement as reasons and the outputs' `from_dict` for a suggestion kept after its
evidence is removed (about 600 lines), sharing one private `_Reading`; split, each
part would import the others' internals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from attendance.statuses import ABSENT, LATE, LEFT_EARLY, PRESENT, UNKNOWN

Interval = tuple[datetime, datetime]


# Confidence model (minutes of margin -> base confidence), see _confidence().
_CURVE = ((0.0, 0.5), (1.0, 0.7), (3.0, 0.9), (5.0, 0.97))
_CLEAR = 0.97  # no presence at all in a finished window: nothing to be unsure about
_TIMEOUT_FACTOR = 0.85  # per connection that ended without a disconnect
_HIDDEN_WEIGHT = 0.5  # a fully hidden presence halves the confidence
_RECONNECT_FACTOR = 0.95  # per reconnect beyond the first, which is harmless
_RECONNECT_FLOOR = 0.7
_FLOOR = 0.3  # a judged (non-unknown) status is never reported as less sure than this
_PROVISIONAL_CAP = 0.6  # a running session can still change
_OUTAGE_FACTOR = 0.75  # the server heard nothing from anyone for a while: times (1 - the unknown share)


# --- inputs -----------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """One continuous stretch of presence of one participant (union of their connections)."""

    start: datetime
    end: datetime  # for a span still open this is the last signal heard
    hidden: tuple[Interval, ...] = ()  # tab hidden: still presence, but weaker evidence


@dataclass(frozen=True)
class Evidence:
    """Everything the server knows about one participant's presence."""

    spans: tuple[Span, ...] = ()
    timeouts: int = 0  # connections that ended without a disconnect: gaps in evidence
    connected_now: bool = False
    # Engagement on the shared board: distinct server seconds in which their strokes' points arrived, and
    # strokes begun. None: the board was never used. Explained in the reasons, never judged: see README.
    drawing_seconds: int | None = None
    strokes: int = 0


@dataclass(frozen=True)
class Policy:
    """Thresholds used to turn presence into attendance."""

    late_after_minutes: float = 5
    left_early_minutes: float = 5
    absent_under_minutes: float = 5
    heartbeat_interval_seconds: float = 15
    auto_apply_confidence: float = 0.8  # used by the finalising job; only carried here

    @classmethod
    def from_settings(cls) -> Policy:
        """Build a policy from settings.ATTENDANCE_POLICY, keeping defaults for missing keys."""
        # Imported here so this module imports without Django configured.
        from django.conf import settings

        configured = getattr(settings, "ATTENDANCE_POLICY", None) or {}
        known = {f.name for f in dataclasses.fields(cls)}
        # Unknown keys are ignored so a newer settings file does not break older code.
        return cls(**{key: float(value) for key, value in configured.items() if key in known})

    def as_dict(self) -> dict[str, float]:
        """Return the thresholds as a JSON-ready dict."""
        return dataclasses.asdict(self)


# --- outputs ----------------------------------------------------------------


@dataclass(frozen=True)
class Metrics:
    """Measured presence of one participant; time counts only inside the judged window."""

    first_joined_at: datetime | None = None
    last_seen_at: datetime | None = None
    active_seconds: int = 0
    coverage: float = 0.0
    minutes_late: float = 0.0
    minutes_left_early: float = 0.0
    reconnects: int = 0
    hidden_seconds: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the metrics as JSON-ready values."""
        return {
            "first_joined_at": _iso(self.first_joined_at),
            "last_seen_at": _iso(self.last_seen_at),
            "active_seconds": self.active_seconds,
            "coverage": self.coverage,
            "minutes_late": self.minutes_late,
            "minutes_left_early": self.minutes_left_early,
            "reconnects": self.reconnects,
            "hidden_seconds": self.hidden_seconds,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metrics:
        """The metrics `to_dict` wrote (a suggestion kept after its evidence was removed)."""
        joined, seen = data.get("first_joined_at"), data.get("last_seen_at")
        return cls(
            **{k: data[k] for k in ("active_seconds", "coverage", "minutes_late", "minutes_left_early") if k in data},
            first_joined_at=datetime.fromisoformat(joined) if joined else None,
            last_seen_at=datetime.fromisoformat(seen) if seen else None,
            reconnects=data.get("reconnects", 0),
            hidden_seconds=data.get("hidden_seconds", 0),
        )


@dataclass(frozen=True)
class ParticipantSuggestion:
    """Suggested attendance of one participant."""

    status: str
    confidence: float
    reasons: tuple[str, ...]
    metrics: Metrics

    def to_dict(self) -> dict[str, Any]:
        """Return the suggestion as JSON-ready values."""
        return {
            "status": self.status,
            "confidence": round(self.confidence, 2),
            "reasons": list(self.reasons),
            "metrics": self.metrics.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParticipantSuggestion:
        return cls(data["status"], data["confidence"], tuple(data["reasons"]), Metrics.from_dict(data["metrics"]))


@dataclass(frozen=True)
class SessionSuggestion:
    """Suggested attendance of both participants of one session."""

    final: bool
    tutor: ParticipantSuggestion
    student: ParticipantSuggestion
    together_seconds: int
    policy: Policy

    def to_dict(self) -> dict[str, Any]:
        """Return the suggestion as JSON-ready values (the caller adds the session id)."""
        return {
            "final": self.final,
            "tutor": self.tutor.to_dict(),
            "student": self.student.to_dict(),
            "together_seconds": self.together_seconds,
            "policy": self.policy.as_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionSuggestion:
        """The suggestion `to_dict` wrote: what pages and jobs read once the evidence behind it is removed."""
        known = {f.name for f in dataclasses.fields(Policy)}
        return cls(
            final=data["final"],
            tutor=ParticipantSuggestion.from_dict(data["tutor"]),
            student=ParticipantSuggestion.from_dict(data["student"]),
            together_seconds=data["together_seconds"],
            policy=Policy(**{k: v for k, v in data.get("policy", {}).items() if k in known}),
        )


# --- entry points -----------------------------------------------------------


def suggest_session(
    *,
    scheduled_start: datetime,
    scheduled_end: datetime,
    tutor: Evidence | None,
    student: Evidence | None,
    now: datetime,
    policy: Policy,
    outages: tuple[Interval, ...] = (),
    clock: Callable[[datetime], str] | None = None,
) -> SessionSuggestion:
    """Suggest attendance for the tutor and the student of one session.

    `outages`: stretches in which the server heard nothing from anyone (whiteboard/outages.py):
    presence in them is unknown, never absent. `clock` writes a moment in the reasons (default: UTC, HH:MM).
    """
    window = {
        "scheduled_start": scheduled_start,
        "scheduled_end": scheduled_end,
        "now": now,
        "policy": policy,
        "outages": outages,
        "clock": clock,
    }
    together = 0
    if tutor is not None and student is not None:
        together = together_seconds(
            tutor,
            student,
            window_start=scheduled_start,
            window_end=_judged_end(scheduled_start, scheduled_end, now),
        )
    return SessionSuggestion(
        final=now >= scheduled_end,
        tutor=suggest_participant(evidence=tutor, **window),
        student=suggest_participant(evidence=student, **window),
        together_seconds=together,
        policy=policy,
    )


def suggest_participant(
    *,
    scheduled_start: datetime,
    scheduled_end: datetime,
    evidence: Evidence | None,
    now: datetime,
    policy: Policy,
    outages: tuple[Interval, ...] = (),
    clock: Callable[[datetime], str] | None = None,
) -> ParticipantSuggestion:
    """Suggest attendance for one participant from their presence evidence."""
    if evidence is None:
        return ParticipantSuggestion(UNKNOWN, 0.0, ("no whiteboard evidence for this session",), Metrics())
    reading = _read(scheduled_start, scheduled_end, evidence, now)
    if now < scheduled_start:
        return ParticipantSuggestion(UNKNOWN, 0.0, ("session has not started",), reading.metrics)
    status, margins = _judge(reading, policy)
    reasons = _reasons(reading, status, policy)
    unknown = _clip(_union(list(outages)), scheduled_start, _judged_end(scheduled_start, scheduled_end, now))
    reasons += _outage_reasons(unknown, clock or _utc_clock)
    if status == UNKNOWN:
        return ParticipantSuggestion(UNKNOWN, 0.0, reasons, reading.metrics)
    confidence = _confidence(reading, margins, policy)
    if unknown:
        confidence, doubt = _outage_confidence(
            confidence,
            status,
            unknown,
            start=scheduled_start,
            end=scheduled_end,
            evidence=evidence,
            now=now,
            policy=policy,
        )
        reasons += doubt
    return ParticipantSuggestion(status, confidence, reasons, reading.metrics)


def together_seconds(a: Evidence, b: Evidence, *, window_start: datetime, window_end: datetime) -> int:
    """Return the seconds both participants were present at once inside the window."""
    first = _clip(_union(_span_intervals(a)), window_start, window_end)
    second = _clip(_union(_span_intervals(b)), window_start, window_end)
    overlaps, i, j = 0.0, 0, 0
    # Classic sorted-list intersection: advance whichever interval ends first.
    while i < len(first) and j < len(second):
        start = max(first[i][0], second[j][0])
        end = min(first[i][1], second[j][1])
        overlaps += max(0.0, (end - start).total_seconds())
        if first[i][1] <= second[j][1]:
            i += 1
        else:
            j += 1
    return int(overlaps)


# --- measurement ------------------------------------------------------------


@dataclass(frozen=True)
class _Reading:
    """What the judgement needs about one participant, in minutes relative to the judged window."""

    metrics: Metrics
    final: bool
    connected_now: bool
    timeouts: int
    window_minutes: float
    presence_minutes: float
    joined_in_window: bool
    ever_joined: bool
    late_by: float  # signed: negative when they joined before the start
    left_before_end_by: float  # signed: negative when last seen after the end
    minutes_since_seen: float
    drawing_seconds: int | None = None
    strokes: int = 0


def _read(start: datetime, end: datetime, evidence: Evidence, now: datetime) -> _Reading:
    """Measure one participant's presence inside the part of the window judged so far."""
    window_end = _judged_end(start, end, now)
    final = now >= end
    presence = _clip(_union(_span_intervals(evidence)), start, window_end)
    active = int(_total_seconds(presence))
    hidden = int(_total_seconds(_clip(_union(_hidden_intervals(evidence)), start, window_end)))
    window_seconds = max(0.0, (window_end - start).total_seconds())

    # Spans entirely outside the window say nothing about lateness or leaving early,
    # so those are measured from the spans that reach into the window.
    inside = [s for s in evidence.spans if s.end > start and s.start < window_end]
    if not inside and evidence.connected_now and not final:
        # Connected this very moment: the open span has no length yet, but they are here, so they
        # have joined (a page pushed at connect shows it, not a second later when time has accrued).
        inside = [s for s in evidence.spans[-1:] if start <= s.start <= window_end]
    late_by = _minutes(inside[0].start - start) if inside else 0.0
    left_by = _minutes(end - max(s.end for s in inside)) if inside else 0.0
    # Leaving early is only known once the session is over and they are not back.
    left_counts = final and not evidence.connected_now and bool(inside)

    metrics = Metrics(
        first_joined_at=min((s.start for s in evidence.spans), default=None),
        last_seen_at=max((s.end for s in evidence.spans), default=None),
        active_seconds=active,
        coverage=round(min(1.0, active / window_seconds), 2) if window_seconds else 0.0,
        minutes_late=round(max(0.0, late_by), 1),
        minutes_left_early=round(max(0.0, left_by), 1) if left_counts else 0.0,
        reconnects=max(0, len(evidence.spans) - 1),
        hidden_seconds=hidden,
    )
    last_seen = metrics.last_seen_at
    return _Reading(
        metrics=metrics,
        final=final,
        connected_now=evidence.connected_now,
        timeouts=max(0, evidence.timeouts),
        window_minutes=window_seconds / 60,
        presence_minutes=active / 60,
        joined_in_window=bool(inside) and (active > 0 or evidence.connected_now),
        ever_joined=bool(evidence.spans),
        late_by=late_by,
        left_before_end_by=left_by,
        minutes_since_seen=_minutes(now - last_seen) if last_seen else 0.0,
        drawing_seconds=evidence.drawing_seconds,
        strokes=evidence.strokes,
    )


# --- judgement --------------------------------------------------------------


def _judge(r: _Reading, policy: Policy) -> tuple[str, list[float] | None]:
    """Pick the status and the margins (minutes) to every threshold that decided it.

    Margins None means the case is clear-cut (no presence at all in a finished window).
    """
    # While running, absence is only decidable once the elapsed window could have held
    # enough presence, and not for someone connected right now (they are accruing time).
    absent_decidable = r.final or (r.window_minutes >= policy.absent_under_minutes and not r.connected_now)
    # A span's end is only known to within one heartbeat, which blurs presence and leaving.
    blur = policy.heartbeat_interval_seconds / 60
    absent_margin = max(0.0, abs(r.presence_minutes - policy.absent_under_minutes) - blur)

    if not r.joined_in_window:
        if absent_decidable:
            return ABSENT, None if r.final else [absent_margin]
        if r.window_minutes > policy.late_after_minutes:
            return LATE, [r.window_minutes - policy.late_after_minutes]
        return UNKNOWN, None

    late_margin = abs(r.late_by - policy.late_after_minutes)
    margins = [late_margin] + ([absent_margin] if absent_decidable else [])
    if absent_decidable and r.presence_minutes < policy.absent_under_minutes:
        return ABSENT, [absent_margin]
    if r.late_by > policy.late_after_minutes:
        return LATE, margins
    if not r.final or r.connected_now:
        return PRESENT, margins
    left_margin = max(0.0, abs(r.left_before_end_by - policy.left_early_minutes) - blur)
    if r.left_before_end_by > policy.left_early_minutes:
        return LEFT_EARLY, [*margins, left_margin]
    return PRESENT, [*margins, left_margin]


def _confidence(r: _Reading, margins: list[float] | None, policy: Policy) -> float:
    """Return how sure the evidence is about the status, in [0, 1].

    base    = piecewise-linear in the smallest margin (minutes) between a decisive measurement
              and its threshold: 0.5 at the threshold, 0.7 at 1 min, 0.9 at 3 min, 0.97 at 5+ min;
              0.97 outright when a finished window holds no presence at all.
    quality = 0.85 per timed-out connection * (1 - 0.5 * hidden share of presence)
              * 0.95 per reconnect beyond the first (not below 0.7).
    result  = max(0.3, base * quality), capped at 0.6 while the session is still running.
    """
    base = _CLEAR if margins is None else _interpolate(min(margins))
    hidden_share = r.metrics.hidden_seconds / r.metrics.active_seconds if r.metrics.active_seconds else 0.0
    extra_reconnects = max(0, r.metrics.reconnects - 1)
    quality = (
        _TIMEOUT_FACTOR**r.timeouts
        * (1 - _HIDDEN_WEIGHT * min(1.0, hidden_share))
        * max(_RECONNECT_FLOOR, _RECONNECT_FACTOR**extra_reconnects)
    )
    confidence = max(_FLOOR, base * quality)
    if not r.final:
        confidence = min(confidence, _PROVISIONAL_CAP)
    return round(min(1.0, confidence), 2)


def _interpolate(margin: float) -> float:
    """Map a margin in minutes onto the confidence curve."""
    if margin <= _CURVE[0][0]:
        return _CURVE[0][1]
    for (x0, y0), (x1, y1) in pairwise(_CURVE):
        if margin <= x1:
            return y0 + (y1 - y0) * (margin - x0) / (x1 - x0)
    return _CURVE[-1][1]


# --- reasons ----------------------------------------------------------------


def _reasons(r: _Reading, status: str, policy: Policy) -> tuple[str, ...]:
    """Explain every finding in plain words, status findings first."""
    reasons = _presence_reasons(r, policy) + _engagement_reasons(r) + _quality_reasons(r)
    if not r.final:
        reasons.append(f"provisional: session still running ({_fmt(r.window_minutes)} min elapsed so far)")
    return tuple(reasons)


def _presence_reasons(r: _Reading, policy: Policy) -> list[str]:
    """Describe joining, leaving and the amount of presence."""
    if not r.joined_in_window:
        if not r.ever_joined:
            return ["never joined the whiteboard" if r.final else "has not joined the whiteboard yet"]
        return ["no presence inside the scheduled time"]
    reasons = [_join_reason(r, policy)]
    if not r.final:
        reasons.append("connected now" if r.connected_now else f"last seen {_fmt(r.minutes_since_seen)} min ago")
    else:
        reasons.append(_leave_reason(r, policy))
    scope = "scheduled" if r.final else "elapsed"
    reasons.append(f"present for {_fmt(r.presence_minutes)} of {_fmt(r.window_minutes)} {scope} minutes")
    return reasons


def _engagement_reasons(r: _Reading) -> list[str]:
    """Say how much they drew on the shared board: evidence of taking part, never part of the status."""
    if r.drawing_seconds is None or not r.ever_joined:
        return []
    if not r.strokes:
        return ["did not draw on the board"]
    scope = "scheduled" if r.final else "elapsed"
    minutes = min(r.drawing_seconds / 60, r.window_minutes)
    return [f"drew for {_fmt(minutes)} of {_fmt(r.window_minutes)} {scope} minutes ({r.strokes} stroke{_s(r.strokes)})"]


def _join_reason(r: _Reading, policy: Policy) -> str:
    """Describe when the participant first joined relative to the start."""
    if r.late_by < 0:
        return f"joined {_fmt(-r.late_by)} min before the start"
    if r.late_by == 0:
        return "joined at the start"
    allowed = policy.late_after_minutes
    grace = "" if r.late_by > allowed else f" (within the {_fmt(allowed)} min grace)"
    return f"joined {_fmt(r.late_by)} min after the start{grace}"


def _leave_reason(r: _Reading, policy: Policy) -> str:
    """Describe when the participant was last seen relative to the end."""
    if r.connected_now:
        return "still connected after the end"
    # The last heartbeat may precede a clean disconnect at the end by one interval.
    if r.left_before_end_by <= policy.heartbeat_interval_seconds / 60:
        return "stayed until the end"
    allowed = policy.left_early_minutes
    note = "" if r.left_before_end_by > allowed else f" (within the {_fmt(allowed)} min allowance)"
    return f"left {_fmt(r.left_before_end_by)} min before the end{note}"


def _quality_reasons(r: _Reading) -> list[str]:
    """Describe reconnects, timeouts and hidden time, which weaken the evidence."""
    reasons = []
    if r.metrics.reconnects:
        reasons.append(f"connection dropped {r.metrics.reconnects} time{_s(r.metrics.reconnects)} and came back")
    if r.timeouts:
        reasons.append(f"{r.timeouts} connection{_s(r.timeouts)} timed out without a disconnect (gap in the evidence)")
    if r.metrics.hidden_seconds:
        reasons.append(f"tab hidden for {_fmt(r.metrics.hidden_seconds / 60)} min")
    return reasons


# --- outages -----------------------------------------------------------------


def _outage_reasons(unknown: list[Interval], clock: Callable[[datetime], str]) -> tuple[str, ...]:
    """Say when the server heard nothing from anyone, in the reader's clock."""
    return tuple(
        f"the server heard nothing from anyone between {clock(a)} and {clock(b)}; presence then is unknown"
        for a, b in unknown
    )


def _outage_confidence(
    confidence: float,
    status: str,
    unknown: list[Interval],
    *,
    start: datetime,
    end: datetime,
    evidence: Evidence,
    now: datetime,
    policy: Policy,
) -> tuple[float, tuple[str, ...]]:
    """Lower the confidence for presence the server could not hear, and say so when it could change the status.

    The status stays the one judged from what was heard. Judged again as if the participant had
    been there through every gap, a different status means the gaps decide it: the confidence
    drops to the floor. Otherwise it is scaled by 0.75 * (1 - the unknown share of the window).
    """
    as_if_there = dataclasses.replace(evidence, spans=(*evidence.spans, *(Span(a, b) for a, b in unknown)))
    other, _ = _judge(_read(start, end, as_if_there, now), policy)
    if other != status:
        words = other.replace("_", " ")
        return _FLOOR, (f"had they been there while the server heard nothing, this would be {words}",)
    window_seconds = max(1.0, (_judged_end(start, end, now) - start).total_seconds())
    share = min(1.0, _total_seconds(unknown) / window_seconds)
    return round(max(_FLOOR, confidence * _OUTAGE_FACTOR * (1 - share)), 2), ()


def _utc_clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M UTC")


# --- interval helpers -------------------------------------------------------


def _judged_end(start: datetime, end: datetime, now: datetime) -> datetime:
    """Return the end of the part of the window that can be judged at `now`."""
    return max(start, min(end, now))


def _span_intervals(evidence: Evidence) -> list[Interval]:
    """Return the spans as (start, end) pairs."""
    return [(s.start, s.end) for s in evidence.spans]


def _hidden_intervals(evidence: Evidence) -> list[Interval]:
    """Return hidden sub-intervals, trimmed to their span (hidden time is presence time)."""
    return [(max(h0, s.start), min(h1, s.end)) for s in evidence.spans for h0, h1 in s.hidden]


def _union(intervals: list[Interval]) -> list[Interval]:
    """Merge intervals into a sorted non-overlapping list; tolerates unsorted input."""
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _clip(intervals: list[Interval], start: datetime, end: datetime) -> list[Interval]:
    """Trim intervals to [start, end], dropping those entirely outside."""
    clipped = [(max(a, start), min(b, end)) for a, b in intervals]
    return [(a, b) for a, b in clipped if b > a]


def _total_seconds(intervals: list[Interval]) -> float:
    """Return the summed length of the intervals in seconds."""
    return sum((b - a).total_seconds() for a, b in intervals)


def _minutes(delta: timedelta) -> float:
    """Convert a timedelta to minutes."""
    return delta.total_seconds() / 60


def _fmt(minutes: float) -> str:
    """Format minutes for a reason: whole numbers without decimals, otherwise one decimal."""
    rounded = round(minutes, 1)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.1f}"


def _s(count: int) -> str:
    """Return the plural suffix for count."""
    return "" if count == 1 else "s"


def _iso(moment: datetime | None) -> str | None:
    """Format a datetime as ISO 8601 with a timezone (naive values are taken as UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()
