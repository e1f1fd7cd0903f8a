"""Reconciliation flags (issue 18): a decision that disagrees with the whiteboard by a wide margin, pure and listed."""

from datetime import timedelta

import pytest
from django.test import Client

from attendance.checks import flagged_sessions, session_flags
from attendance.models import TutoringSession
from attendance.reconciliation import (
    BOTH_ABSENT_MARKED_DELIVERED,
    MARK_DISAGREES,
    NO_INTERACTION,
    Observed,
    Thresholds,
    reconciliation_flags,
)
from attendance.services import attendance_mark_by_hand
from tests.conftest import T0
from tests.factories import GuardianFactory, TutoringSessionFactory, UserFactory
from tests.whiteboard.helpers import presence_trace

HOUR = 3600
END = T0 + timedelta(hours=1)
AFTER = END + timedelta(minutes=30)


def flags(tutor_status, student_status, tutor_seconds, student_seconds, **kwargs):
    return reconciliation_flags(
        tutor_status=tutor_status,
        student_status=student_status,
        tutor=Observed(tutor_seconds, kwargs.pop("tutor_interactions", None)),
        student=Observed(student_seconds, kwargs.pop("student_interactions", None)),
        session_seconds=HOUR,
        **kwargs,
    )


def codes(found):
    return [(f.code, f.role) for f in found]


# --- the rule, pure ------------------------------------------------------------------------------


def test_a_decision_the_evidence_bears_out_has_no_flag():
    assert flags("present", "late", HOUR, 0.8 * HOUR) == ()
    assert flags("present", "absent", HOUR, 0) == ()


def test_marked_present_but_there_for_a_sliver_of_the_session():
    found = flags("present", "present", HOUR, 0.1 * HOUR)
    assert codes(found) == [(MARK_DISAGREES, "student")]
    assert found[0].text == "Student marked present, but on the whiteboard for only 10 % of the session (6 of 60 min)."


def test_marked_absent_but_there_most_of_the_session():
    found = flags("absent", "present", 0.9 * HOUR, HOUR)
    assert codes(found) == [(MARK_DISAGREES, "tutor")]
    assert found[0].text == "Tutor marked absent, but on the whiteboard for 90 % of the session (54 of 60 min)."


def test_the_thresholds_are_settings(settings):
    settings.ATTENDANCE_RECONCILE_PRESENT_UNDER = 0.05
    settings.ATTENDANCE_RECONCILE_ABSENT_OVER = 0.95
    loose = Thresholds.from_settings()
    assert flags("present", "present", HOUR, 0.1 * HOUR, thresholds=loose) == ()
    assert flags("absent", "present", 0.9 * HOUR, HOUR, thresholds=loose) == ()


def test_marked_present_with_no_presence_at_all_is_no_interaction():
    found = flags("present", "late", HOUR, 0)
    assert codes(found) == [(NO_INTERACTION, "student")]
    assert found[0].text == "Student marked late, but never on the whiteboard."


def test_the_board_interaction_hook_flags_someone_there_who_drew_nothing():
    assert flags("present", "present", HOUR, HOUR, student_interactions=None) == ()  # not measured
    assert flags("present", "present", HOUR, HOUR, student_interactions=12) == ()
    found = flags("present", "present", HOUR, HOUR, student_interactions=0)
    assert codes(found) == [(NO_INTERACTION, "student")]
    assert "drew nothing" in found[0].text


def test_both_absent_but_marked_delivered_is_one_flag_for_the_session():
    found = flags("present", "late", 0, 0)
    assert codes(found) == [(BOTH_ABSENT_MARKED_DELIVERED, None)]
    assert found[0].text == "Both marked there (a delivered session), but neither joined the whiteboard."


def test_time_the_server_could_not_hear_counts_for_the_mark_never_against_it():
    # 10 min heard, 20 min the server heard nothing: 30 of 60 min may have been presence.
    assert flags("present", "present", HOUR, 600, unknown_seconds=1200) == ()
    assert codes(flags("present", "present", HOUR, 600)) == [(MARK_DISAGREES, "student")]


def test_no_evidence_no_flags():
    assert (
        reconciliation_flags(
            tutor_status="present", student_status="present", tutor=None, student=None, session_seconds=HOUR
        )
        == ()
    )


# --- sessions, the staff page, the session page ----------------------------------------------------


@pytest.fixture
def marked_present_but_gone(db, tutor, student):
    """The tutor marks Sam present; Sam was on the whiteboard for 4 minutes."""
    session = TutoringSessionFactory(tutor=tutor, student=student, scheduled_start=T0, scheduled_end=END)
    presence_trace(session.whiteboard, tutor, T0, END, every=40)
    presence_trace(session.whiteboard, student, T0, T0 + timedelta(minutes=4))
    attendance_mark_by_hand(session=session, by=tutor, tutor_status="present", student_status="present", now=AFTER)
    return TutoringSession.objects.get(pk=session.pk)


@pytest.fixture
def fine_session(db):
    tutor, student = UserFactory(), UserFactory()
    start = T0 + timedelta(hours=2)
    session = TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=start, scheduled_end=start + timedelta(hours=1)
    )
    presence_trace(session.whiteboard, tutor, start, session.scheduled_end, every=40)
    presence_trace(session.whiteboard, student, start, session.scheduled_end, every=40)
    attendance_mark_by_hand(
        session=session, by=tutor, tutor_status="present", student_status="present", now=session.scheduled_end
    )
    return session


def test_a_session_nobody_decided_is_not_flagged(session, tutor):
    presence_trace(session.whiteboard, tutor, T0, END, every=40)
    # The assumed default (present, present) is no one's mark.
    assert session_flags(TutoringSession.objects.get(pk=session.pk), now=AFTER) == ()


def test_flagged_sessions_lists_only_those_that_disagree(marked_present_but_gone, fine_session):
    now = fine_session.scheduled_end + timedelta(hours=1)
    found = flagged_sessions(start=T0 - timedelta(days=1), end=now, now=now)
    assert [(row.session.pk, codes(row.flags)) for row in found] == [
        (marked_present_but_gone.pk, [(MARK_DISAGREES, "student")])
    ]
    assert flagged_sessions(start=T0 - timedelta(days=1), end=now, now=now, code=NO_INTERACTION) == []


def browser(user):
    client = Client()
    client.force_login(user)
    return client


def test_staff_see_the_flags_and_the_gaps_on_the_checks_page(marked_present_but_gone, staff, clock):
    clock.at(AFTER + timedelta(hours=1))
    page = browser(staff).get("/reports/checks/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-session="{marked_present_but_gone.pk}"' in html
    assert "Student marked present, but on the whiteboard for only 7 % of the session (4 of 60 min)." in html
    assert 'data-testid="no-gaps"' in html
    filtered = browser(staff).get("/reports/checks/", {"flag": BOTH_ABSENT_MARKED_DELIVERED})
    assert 'data-testid="no-flags"' in filtered.content.decode()


def test_the_checks_page_refuses_bad_filters_with_400(staff):
    assert browser(staff).get("/reports/checks/", {"days": "0"}).status_code == 400
    assert browser(staff).get("/reports/checks/", {"flag": "nonsense"}).status_code == 400


def test_outsiders_get_404_from_the_checks_page(tutor, student, db):
    parent = GuardianFactory().user
    for user in (tutor, student, parent):
        assert browser(user).get("/reports/checks/").status_code == 404
    assert Client().get("/reports/checks/").status_code == 302  # to sign in


def test_the_checks_page_lists_an_outage_gap(staff, clock, db):
    from whiteboard.services import presence_sweep

    tutor, student = UserFactory(), UserFactory()
    session = TutoringSessionFactory(tutor=tutor, student=student, scheduled_start=T0, scheduled_end=END)
    presence_trace(session.whiteboard, tutor, T0, T0 + timedelta(minutes=5), disconnect=False)
    presence_sweep(now=T0 + timedelta(minutes=12))
    presence_trace(session.whiteboard, tutor, T0 + timedelta(minutes=12), END, every=40)
    clock.at(AFTER)
    html = browser(staff).get("/reports/checks/").content.decode()
    assert html.count('data-testid="gap-row"') == 1
    assert "10 Mar 2026 14:05:00" in html and "10 Mar 2026 14:12:00" in html


def test_staff_see_the_flags_on_the_session_page_and_the_tutor_does_not(marked_present_but_gone, staff, tutor, clock):
    clock.at(AFTER + timedelta(minutes=5))
    url = f"/sessions/{marked_present_but_gone.pk}/"
    staff_html = browser(staff).get(url).content.decode()
    assert 'data-testid="reconciliation-flags"' in staff_html
    assert 'data-code="mark_disagrees"' in staff_html
    assert 'data-testid="reconciliation-flags"' not in browser(tutor).get(url).content.decode()


def test_marked_there_but_drew_nothing_while_the_other_drew_is_no_interaction(fine_session):
    from whiteboard.board import board_stroke_begin

    now = fine_session.scheduled_end + timedelta(hours=1)
    # A board nobody drew on says nothing: not flagged.
    assert flagged_sessions(start=T0 - timedelta(days=1), end=now, now=now, code=NO_INTERACTION) == []
    board_stroke_begin(
        whiteboard_id=fine_session.whiteboard_id,
        user=fine_session.tutor,
        tool="pen",
        colour="#1f2937",
        width=3,
        points=[10, 10, 20, 20],
        now=fine_session.scheduled_start + timedelta(minutes=5),
    )
    found = flagged_sessions(start=T0 - timedelta(days=1), end=now, now=now, code=NO_INTERACTION)
    assert [(row.session.pk, codes(row.flags)) for row in found] == [(fine_session.pk, [(NO_INTERACTION, "student")])]
