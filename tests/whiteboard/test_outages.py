"""Outage gaps (issue 18): stretches when the server heard nothing from anyone while sessions ran."""

from datetime import timedelta

import pytest

from tests.conftest import T0
from tests.factories import TutoringSessionFactory, UserFactory
from tests.whiteboard.helpers import presence_trace
from whiteboard.outages import Heard, OutageGap, find_outage_gaps, outage_gaps
from whiteboard.services import presence_sweep


def minutes(n):
    return timedelta(minutes=n)


END = T0 + minutes(60)
WINDOW_END = END + minutes(15)
RULES = {"min_seconds": 90, "just_before": timedelta(seconds=45)}


def heard(start, end, *, left=False, expected_until=WINDOW_END):
    return Heard(T0 + minutes(start), T0 + minutes(end), left, expected_until)


# --- the rule, pure ------------------------------------------------------------------------------


def test_everyone_falling_silent_at_once_and_coming_back_is_a_gap():
    found = find_outage_gaps(
        [heard(0, 5), heard(1, 5), heard(12, 60, left=True), heard(12.5, 60, left=True)], now=END, **RULES
    )
    assert found == [OutageGap(T0 + minutes(5), T0 + minutes(12))]


def test_one_tab_still_beating_anywhere_means_no_gap():
    found = find_outage_gaps([heard(0, 5), heard(12, 60, left=True), heard(0, 60, left=True)], now=END, **RULES)
    assert found == []


def test_people_who_left_of_their_own_accord_leave_no_gap():
    assert find_outage_gaps([heard(0, 5, left=True), heard(30, 60, left=True)], now=END, **RULES) == []


def test_a_silence_shorter_than_the_setting_is_no_gap():
    assert find_outage_gaps([heard(0, 5), heard(6.4, 60, left=True)], now=END, **RULES) == []
    assert find_outage_gaps([heard(0, 5), heard(6.6, 60, left=True)], now=END, **RULES) == [
        OutageGap(T0 + minutes(5), T0 + minutes(6.6))
    ]


def test_silence_counts_only_while_the_sessions_of_those_heard_last_still_ran():
    # Lapsed at the end of the day; the next signal is the next morning: the gap stops at the window's end.
    found = find_outage_gaps([heard(0, 70), heard(60 * 18, 60 * 19, left=True)], now=T0 + minutes(60 * 20), **RULES)
    assert found == [OutageGap(T0 + minutes(70), WINDOW_END)]
    # After the window, silence is no outage at all.
    assert (
        find_outage_gaps([heard(0, 76), heard(60 * 18, 60 * 19, left=True)], now=T0 + minutes(60 * 20), **RULES) == []
    )


def test_a_silence_still_going_on_is_an_ongoing_gap_until_now():
    found = find_outage_gaps([heard(0, 5), heard(1, 5)], now=T0 + minutes(9), **RULES)
    assert found == [OutageGap(T0 + minutes(5), T0 + minutes(9), ongoing=True)]


# --- read from the connection rows ---------------------------------------------------------------


@pytest.fixture
def outage(db):
    """Two sessions running; at T0+5 min the server goes away (nobody is disconnected, every connection lapses),
    at T0+12 min it is back: the sweep closes the old connections, everyone reconnects."""
    sessions = []
    for _ in range(2):
        tutor, student = UserFactory(), UserFactory()
        session = TutoringSessionFactory(tutor=tutor, student=student, scheduled_start=T0, scheduled_end=END)
        presence_trace(session.whiteboard, tutor, T0, T0 + minutes(5), disconnect=False)
        presence_trace(session.whiteboard, student, T0 + minutes(1), T0 + minutes(5), disconnect=False)
        sessions.append((session, tutor, student))
    presence_sweep(now=T0 + minutes(12))
    for session, tutor, student in sessions:
        presence_trace(session.whiteboard, tutor, T0 + minutes(12), END, every=40)
        presence_trace(session.whiteboard, student, T0 + minutes(12), END, every=40)
    return [s for s, _, _ in sessions]


def test_the_gap_is_read_from_the_servers_own_record_of_signals(outage):
    assert outage_gaps(start=T0, end=END, now=END + minutes(20)) == [OutageGap(T0 + minutes(5), T0 + minutes(12))]


def test_a_gap_reaching_past_the_stretch_asked_about_ends_at_the_next_signal(outage):
    assert outage_gaps(start=T0, end=T0 + minutes(10), now=END) == [OutageGap(T0 + minutes(5), T0 + minutes(12))]


def test_a_silence_still_going_on_is_read_as_ongoing(session, tutor, student):
    presence_trace(session.whiteboard, tutor, T0, T0 + minutes(5), disconnect=False)
    presence_trace(session.whiteboard, student, T0, T0 + minutes(5), disconnect=False)
    now = T0 + minutes(9)
    assert outage_gaps(start=T0, end=END, now=now) == [OutageGap(T0 + minutes(5), now, ongoing=True)]


def test_finding_no_gap_costs_one_query(outage, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert outage_gaps(start=T0 + minutes(20), end=END, now=END + minutes(20)) == []


def test_silences_after_people_left_are_passed_over_in_the_one_query(
    session, tutor, student, django_assert_num_queries
):
    presence_trace(session.whiteboard, tutor, T0, T0 + minutes(20))
    presence_trace(session.whiteboard, student, T0 + minutes(40), END)
    with django_assert_num_queries(1):
        assert outage_gaps(start=T0, end=END, now=END + minutes(20)) == []


def test_only_gaps_overlapping_the_stretch_asked_about(outage):
    assert outage_gaps(start=T0 + minutes(20), end=END, now=END + minutes(20)) == []
    assert outage_gaps(start=T0 + minutes(11), end=END, now=END + minutes(20)) != []


def test_a_participant_leaving_while_the_other_stays_is_no_gap(session, tutor, student):
    presence_trace(session.whiteboard, tutor, T0, END)
    presence_trace(session.whiteboard, student, T0, T0 + minutes(20), disconnect=False)  # lapses
    presence_sweep(now=T0 + minutes(22))
    assert outage_gaps(start=T0, end=END, now=END + minutes(20)) == []


def test_a_quiet_hidden_tab_still_alive_is_still_heard(session, student):
    presence_trace(session.whiteboard, student, T0, T0 + minutes(2), disconnect=False, visibility="hidden")
    # 140 s after its last signal a hidden tab is alive (150 s): the server is still listening to it.
    assert outage_gaps(start=T0, end=END, now=T0 + minutes(2) + timedelta(seconds=140)) == []


def test_the_minimum_comes_from_settings(outage, settings):
    settings.PRESENCE = {**settings.PRESENCE, "OUTAGE_MIN_SECONDS": 8 * 60}
    assert outage_gaps(start=T0, end=END, now=END + minutes(20)) == []
