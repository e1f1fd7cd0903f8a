"""Behaviour tests for attendance suggestions from presence evidence (pure data, no DB)."""

import json
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from attendance.suggestions import (
    Evidence,
    ParticipantSuggestion,
    Policy,
    SessionSuggestion,
    Span,
    suggest_participant,
    suggest_session,
    together_seconds,
)

START = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)
LENGTH_MIN = 60
END = START + timedelta(minutes=LENGTH_MIN)
AFTER = END + timedelta(minutes=30)  # a `now` when the session is over
POLICY = Policy()


def at(minute: float) -> datetime:
    """Return the moment `minute` minutes after the scheduled start."""
    return START + timedelta(minutes=minute)


def span(start_min: float, end_min: float, hidden: tuple[tuple[float, float], ...] = ()) -> Span:
    """Build a span from minute offsets."""
    return Span(start=at(start_min), end=at(end_min), hidden=tuple((at(a), at(b)) for a, b in hidden))


def evidence(*spans: Span, timeouts: int = 0, connected_now: bool = False) -> Evidence:
    """Build evidence from spans."""
    return Evidence(spans=spans, timeouts=timeouts, connected_now=connected_now)


def suggest(ev: Evidence | None, *, now: datetime = AFTER, policy: Policy = POLICY) -> ParticipantSuggestion:
    """Suggest for one participant of the standard 60-minute session."""
    return suggest_participant(scheduled_start=START, scheduled_end=END, evidence=ev, now=now, policy=policy)


def mentions(result: ParticipantSuggestion, *words: str) -> bool:
    """Return True when one reason contains all the words."""
    return any(all(w in reason for w in words) for reason in result.reasons)


# --- clear cases -------------------------------------------------------------


def test_on_time_for_whole_session_is_present_and_sure():
    # Joined 30 s early, last heartbeat 10 s before the end.
    result = suggest(evidence(span(-0.5, LENGTH_MIN - 10 / 60)))
    assert result.status == "present"
    assert result.confidence >= 0.9
    assert result.metrics.active_seconds == LENGTH_MIN * 60 - 10
    assert result.metrics.minutes_late == 0
    assert result.metrics.coverage == pytest.approx(1.0)


def test_joined_in_the_first_minute_with_one_harmless_reconnect_is_still_sure():
    result = suggest(evidence(span(0.9, 30), span(30.5, LENGTH_MIN)))
    assert result.status == "present"
    assert result.metrics.reconnects == 1
    assert result.confidence >= 0.9


def test_twelve_minutes_late_is_late_and_reason_says_twelve():
    result = suggest(evidence(span(12, LENGTH_MIN)))
    assert result.status == "late"
    assert result.confidence >= 0.8
    assert result.metrics.minutes_late == 12
    assert mentions(result, "12", "after the start")


def test_never_connected_in_finished_session_is_absent_and_sure():
    result = suggest(evidence())
    assert result.status == "absent"
    assert result.confidence >= 0.9
    assert mentions(result, "never joined")
    assert result.metrics.first_joined_at is None
    assert result.metrics.active_seconds == 0
    assert result.metrics.reconnects == 0


def test_left_twenty_minutes_early_is_left_early():
    result = suggest(evidence(span(0, LENGTH_MIN - 20)))
    assert result.status == "left_early"
    assert result.metrics.minutes_left_early == 20
    assert result.confidence >= 0.8
    assert mentions(result, "20", "before the end")


def test_two_minute_network_drop_mid_session_stays_present():
    result = suggest(evidence(span(0, 30), span(32, LENGTH_MIN)))
    assert result.status == "present"
    assert result.metrics.reconnects == 1
    assert result.metrics.active_seconds == pytest.approx(LENGTH_MIN * 60 - 120, abs=1)
    assert mentions(result, "dropped 1 time")


def test_crash_without_disconnect_is_left_early_with_less_confidence_than_clean_leave():
    crashed = suggest(evidence(span(0, 40), timeouts=1))
    clean = suggest(evidence(span(0, 40)))
    assert crashed.status == clean.status == "left_early"
    assert crashed.confidence < clean.confidence
    assert mentions(crashed, "timed out")
    assert not mentions(clean, "timed out")


def test_many_reconnects_lower_confidence():
    steady = suggest(evidence(span(0, 30), span(30.2, LENGTH_MIN)))
    flaky = suggest(evidence(*(span(m, m + 7.5) for m in range(0, 56, 8)), span(56, LENGTH_MIN)))
    assert flaky.metrics.reconnects == 7
    assert flaky.status == steady.status == "present"
    assert flaky.confidence < steady.confidence


# --- window clipping -----------------------------------------------------------


def test_early_join_counts_only_from_the_start():
    result = suggest(evidence(span(-10, LENGTH_MIN)))
    assert result.status == "present"
    assert result.metrics.active_seconds == LENGTH_MIN * 60
    assert result.metrics.coverage == 1.0
    assert result.metrics.first_joined_at == at(-10)
    assert result.metrics.minutes_late == 0
    assert mentions(result, "10 min before the start")


def test_spans_entirely_outside_window_count_nothing():
    result = suggest(evidence(span(-40, -20), span(LENGTH_MIN + 5, LENGTH_MIN + 15)))
    assert result.status == "absent"
    assert result.metrics.active_seconds == 0
    assert result.metrics.reconnects == 1


def test_stay_after_the_end_is_clipped_and_not_left_early():
    result = suggest(evidence(span(0, LENGTH_MIN + 25)))
    assert result.metrics.active_seconds == LENGTH_MIN * 60
    assert result.metrics.minutes_left_early == 0
    assert result.metrics.last_seen_at == at(LENGTH_MIN + 25)


def test_came_back_before_the_end_is_not_left_early():
    result = suggest(evidence(span(0, 30), span(35, LENGTH_MIN)))
    assert result.status == "present"
    assert result.metrics.minutes_left_early == 0


# --- near the thresholds -------------------------------------------------------


@pytest.mark.parametrize(
    ("trace", "expected_status"),
    [
        pytest.param(evidence(span(5.5, LENGTH_MIN)), "late", id="5.5-min-late"),
        pytest.param(evidence(span(4.5, LENGTH_MIN)), "present", id="4.5-min-late"),
        pytest.param(evidence(span(5.9, LENGTH_MIN)), "late", id="5.9-min-late"),
        pytest.param(evidence(span(4.1, LENGTH_MIN)), "present", id="4.1-min-late"),
        pytest.param(evidence(span(0, LENGTH_MIN - 5.5)), "left_early", id="left-5.5-min-early"),
        pytest.param(evidence(span(0, LENGTH_MIN - 4.5)), "present", id="left-4.5-min-early"),
        pytest.param(evidence(span(0, 5.5)), "left_early", id="5.5-min-presence"),
        pytest.param(evidence(span(0, 4.5)), "absent", id="4.5-min-presence"),
    ],
)
def test_finding_within_a_minute_of_its_threshold_is_at_most_0_7(trace, expected_status):
    result = suggest(trace)
    assert result.status == expected_status
    assert result.confidence <= 0.7


def test_thresholds_come_from_the_policy():
    strict = Policy(late_after_minutes=2)
    assert suggest(evidence(span(3, LENGTH_MIN)), policy=strict).status == "late"
    assert suggest(evidence(span(3, LENGTH_MIN))).status == "present"


# --- precedence ----------------------------------------------------------------


def test_absent_wins_over_late():
    result = suggest(evidence(span(LENGTH_MIN - 3, LENGTH_MIN)))
    assert result.status == "absent"
    assert mentions(result, "present for 3 of 60")
    assert mentions(result, str(LENGTH_MIN - 3), "after the start")


def test_late_wins_over_left_early_and_both_are_reported():
    result = suggest(evidence(span(12, LENGTH_MIN - 20)))
    assert result.status == "late"
    assert mentions(result, "12", "after the start")
    assert mentions(result, "20", "before the end")
    assert result.metrics.minutes_late == 12
    assert result.metrics.minutes_left_early == 20


# --- session lifecycle -----------------------------------------------------------


def test_running_session_is_provisional_and_never_left_early():
    now = at(30)
    gone = suggest(evidence(span(0, 10)), now=now)  # left 20 min ago, may come back
    here = suggest(evidence(span(0, 29.9), connected_now=True), now=now)
    for result in (gone, here):
        assert result.status == "present"
        assert result.metrics.minutes_left_early == 0
        assert result.confidence <= 0.6
        assert mentions(result, "provisional")
    assert gone.metrics.coverage == pytest.approx(10 / 30, abs=0.01)
    session = suggest_session(
        scheduled_start=START, scheduled_end=END, tutor=evidence(span(0, 10)), student=None, now=now, policy=POLICY
    )
    assert session.final is False


def test_someone_who_connected_this_moment_has_joined():
    # The page pushed at connect must already show them joined: their span has no length yet.
    now = at(2)
    just_now = suggest(evidence(span(2, 2), connected_now=True), now=now)
    assert just_now.status == "present"
    assert just_now.metrics.minutes_late == 2
    late = suggest(evidence(span(12, 12), connected_now=True), now=at(12))
    assert late.status == "late"
    # A zero-length span of someone who has gone again is no evidence of joining.
    assert suggest(evidence(span(2, 2)), now=now).status == "unknown"


def test_running_session_absent_only_once_elapsed_window_is_long_enough():
    assert suggest(evidence(), now=at(3)).status not in {"absent", "late"}
    assert suggest(evidence(), now=at(20)).status == "absent"


def test_session_not_started_is_unknown():
    result = suggest(evidence(span(-5, -4)), now=at(-2))
    assert result.status == "unknown"
    assert result.confidence == 0
    assert mentions(result, "has not started")


def test_finished_session_is_final():
    session = suggest_session(
        scheduled_start=START, scheduled_end=END, tutor=evidence(), student=evidence(), now=END, policy=POLICY
    )
    assert session.final is True


def test_no_whiteboard_evidence_is_unknown_with_zero_confidence():
    session = suggest_session(
        scheduled_start=START, scheduled_end=END, tutor=None, student=None, now=AFTER, policy=POLICY
    )
    for result in (session.tutor, session.student):
        assert result.status == "unknown"
        assert result.confidence == 0.0
        assert mentions(result, "no whiteboard")
        assert result.metrics.first_joined_at is None
        assert result.metrics.active_seconds == 0
    assert session.together_seconds == 0


# --- together ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected_seconds"),
    [
        pytest.param(evidence(span(0, 40)), evidence(span(20, 60)), 20 * 60, id="overlapping"),
        pytest.param(evidence(span(0, 20)), evidence(span(30, 60)), 0, id="disjoint"),
        pytest.param(evidence(span(-30, 90)), evidence(span(-20, 80)), 60 * 60, id="clipped-to-window"),
        pytest.param(evidence(span(0, 30), span(32, 60)), evidence(span(10, 50)), 38 * 60, id="drop-inside"),
        pytest.param(evidence(), evidence(span(0, 60)), 0, id="one-never-joined"),
    ],
)
def test_together_seconds(a, b, expected_seconds):
    assert together_seconds(a, b, window_start=START, window_end=END) == expected_seconds
    assert together_seconds(b, a, window_start=START, window_end=END) == expected_seconds


def test_session_together_counts_only_elapsed_scheduled_time():
    both = evidence(span(-10, 25), connected_now=True)
    session = suggest_session(
        scheduled_start=START, scheduled_end=END, tutor=both, student=both, now=at(20), policy=POLICY
    )
    assert session.together_seconds == 20 * 60


# --- hidden time -----------------------------------------------------------------


def test_hidden_time_is_counted_reported_and_lowers_confidence():
    visible = suggest(evidence(span(0, LENGTH_MIN)))
    hidden = suggest(evidence(span(0, LENGTH_MIN, hidden=((10, 24),))))
    assert hidden.status == visible.status == "present"
    assert hidden.metrics.hidden_seconds == 14 * 60
    assert hidden.metrics.active_seconds == LENGTH_MIN * 60  # hidden is still presence
    assert mentions(hidden, "hidden", "14 min")
    assert hidden.confidence < visible.confidence


def test_hidden_time_outside_the_window_is_not_counted():
    result = suggest(evidence(span(-10, LENGTH_MIN, hidden=((-8, 5),))))
    assert result.metrics.hidden_seconds == 5 * 60


# --- serialisation ---------------------------------------------------------------


def test_to_dict_has_the_documented_shape_and_is_json_serialisable():
    session = suggest_session(
        scheduled_start=START,
        scheduled_end=END,
        tutor=evidence(span(-1, 30), span(31, LENGTH_MIN)),
        student=evidence(span(12, LENGTH_MIN)),
        now=AFTER,
        policy=POLICY,
    )
    assert isinstance(session, SessionSuggestion)
    data = json.loads(json.dumps(session.to_dict()))
    assert set(data) == {"final", "tutor", "student", "together_seconds", "policy"}
    assert data["final"] is True
    assert data["together_seconds"] == (30 - 12 + LENGTH_MIN - 31) * 60
    assert data["policy"] == {f.name: getattr(POLICY, f.name) for f in fields(Policy)}
    metric_keys = {
        "first_joined_at",
        "last_seen_at",
        "active_seconds",
        "coverage",
        "minutes_late",
        "minutes_left_early",
        "reconnects",
        "hidden_seconds",
    }
    for role in ("tutor", "student"):
        part = data[role]
        assert set(part) == {"status", "confidence", "reasons", "metrics"}
        assert set(part["metrics"]) == metric_keys
        assert isinstance(part["reasons"], list) and part["reasons"]
        assert part["confidence"] == round(part["confidence"], 2)
        assert datetime.fromisoformat(part["metrics"]["first_joined_at"]).tzinfo is not None
    assert datetime.fromisoformat(data["tutor"]["metrics"]["first_joined_at"]) == at(-1)
    assert data["tutor"]["metrics"]["reconnects"] == 1
    assert data["student"]["status"] == "late"


def test_unknown_participant_serialises_with_nulls():
    data = suggest(None).to_dict()
    json.dumps(data)
    assert data["status"] == "unknown"
    assert data["confidence"] == 0
    assert data["metrics"]["first_joined_at"] is None
    assert data["metrics"]["last_seen_at"] is None


# --- policy ----------------------------------------------------------------------


def test_policy_from_settings_keeps_defaults_for_missing_keys(monkeypatch):
    import django.conf

    monkeypatch.setattr(django.conf, "settings", SimpleNamespace(ATTENDANCE_POLICY={"late_after_minutes": 10}))
    policy = Policy.from_settings()
    assert policy.late_after_minutes == 10
    assert policy.left_early_minutes == Policy().left_early_minutes
    assert policy.as_dict()["late_after_minutes"] == 10


def test_policy_from_settings_without_the_setting_is_default(monkeypatch):
    import django.conf

    monkeypatch.setattr(django.conf, "settings", SimpleNamespace())
    assert Policy.from_settings() == Policy()


# --- sweep and robustness ---------------------------------------------------------


@pytest.mark.parametrize("minutes_late", range(0, LENGTH_MIN + 1))
def test_confidence_stays_in_unit_interval_and_status_follows_lateness(minutes_late):
    result = suggest(evidence(span(minutes_late, LENGTH_MIN)))
    assert 0.0 <= result.confidence <= 1.0
    presence = LENGTH_MIN - minutes_late
    if minutes_late == LENGTH_MIN or presence < POLICY.absent_under_minutes:
        expected = "absent"
    elif minutes_late > POLICY.late_after_minutes:
        expected = "late"
    else:
        expected = "present"
    assert result.status == expected


@pytest.mark.parametrize(
    "trace",
    [
        evidence(span(30, 40), span(0, 10)),  # unsorted
        evidence(span(0, 40), span(20, 60)),  # overlapping
        evidence(span(10, 10)),  # zero length
        evidence(span(0, 60, hidden=((50, 70), (-5, 2)))),  # hidden sticking out of the span
    ],
)
def test_odd_but_valid_traces_do_not_raise(trace):
    for now in (at(-5), at(0), at(30), AFTER):
        result = suggest(trace, now=now)
        assert 0.0 <= result.confidence <= 1.0


def test_zero_length_window_does_not_raise():
    result = suggest_participant(
        scheduled_start=START, scheduled_end=START, evidence=evidence(span(0, 1)), now=AFTER, policy=POLICY
    )
    assert result.metrics.coverage == 0.0
