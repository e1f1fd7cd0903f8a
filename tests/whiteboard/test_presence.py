"""The pure presence arithmetic, on plain data: folding the fast-path heartbeats' tail into the spans."""

from datetime import timedelta

from tests.conftest import T0
from whiteboard.presence import extend_span, fold_tail, presence_window, span_totals, start_span

VISIBLE, HIDDEN = "visible", "hidden"


def at(seconds: float):
    return T0 + timedelta(seconds=seconds)


def one_span(since: float = 0, until: float = 60) -> list[dict]:
    return extend_span(start_span([], at=at(since)), since=at(since), until=at(until), hidden=False)


def test_a_visible_tail_extends_the_last_span_as_visible_time():
    spans, end = fold_tail(one_span(), last_activity_at=at(60), signals=[(at(150), VISIBLE)])
    assert end == at(150)
    assert spans == [{"start": at(0).isoformat(), "end": at(150).isoformat(), "hidden": []}]
    assert span_totals(spans) == (150, 0)


def test_a_hidden_tail_extends_the_last_span_as_hidden_time():
    spans, end = fold_tail(one_span(), last_activity_at=at(60), signals=[(at(240), HIDDEN)])
    assert end == at(240)
    assert spans[-1]["hidden"] == [[at(60).isoformat(), at(240).isoformat()]]
    assert span_totals(spans) == (240, 180)


def test_a_hidden_tail_continues_the_hidden_interval_it_follows():
    hidden_so_far = extend_span(one_span(), since=at(60), until=at(120), hidden=True)
    spans, _ = fold_tail(hidden_so_far, last_activity_at=at(120), signals=[(at(180), HIDDEN)])
    assert spans[-1]["hidden"] == [[at(60).isoformat(), at(180).isoformat()]]
    assert span_totals(spans) == (180, 120)


def test_a_mixed_tail_is_visible_up_to_the_last_visible_signal_then_hidden():
    spans, end = fold_tail(
        one_span(), last_activity_at=at(60), signals=[(at(100), VISIBLE), (at(130), HIDDEN), (at(90), VISIBLE)]
    )
    assert end == at(130)
    assert spans[-1]["end"] == at(130).isoformat()
    assert spans[-1]["hidden"] == [[at(100).isoformat(), at(130).isoformat()]]
    assert span_totals(spans) == (130, 30)


def test_an_expired_connection_counts_up_to_its_last_signal_and_no_further():
    # Beat at 90, then nothing: its liveness ran out at 135 but nobody has swept it yet.
    spans, end = fold_tail(one_span(), last_activity_at=at(60), signals=[(at(90), VISIBLE)])
    assert end == at(90)
    assert span_totals(spans) == (90, 0)


def test_nothing_to_fold_leaves_the_spans_as_they_are():
    spans = one_span()
    assert fold_tail(spans, last_activity_at=at(60), signals=[]) == (spans, at(60))
    # Signals at or before the last activity were already folded (or taken by the locked path).
    assert fold_tail(spans, last_activity_at=at(60), signals=[(at(60), VISIBLE), (at(45), HIDDEN)]) == (spans, at(60))
    assert fold_tail([], last_activity_at=None, signals=[]) == ([], None)


def test_folding_twice_adds_nothing_the_second_time():
    signals = [(at(100), VISIBLE), (at(130), HIDDEN)]
    once, end = fold_tail(one_span(), last_activity_at=at(60), signals=signals)
    assert fold_tail(once, last_activity_at=end, signals=signals) == (once, end)


def test_presence_window_opens_and_closes_the_setting_s_minutes_around_the_schedule(settings):
    settings.PRESENCE = {**settings.PRESENCE, "JOIN_WINDOW_MINUTES": 10}
    start = T0
    window = presence_window(scheduled_start=start, scheduled_end=start + timedelta(hours=1))
    assert not window.contains(start - timedelta(minutes=10, seconds=1))
    assert window.contains(start - timedelta(minutes=10))
    assert window.contains(start + timedelta(hours=1, minutes=9, seconds=59))
    assert not window.contains(start + timedelta(hours=1, minutes=10))
