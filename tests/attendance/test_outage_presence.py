"""Presence we cannot see is not absence (issue 18): outage gaps in the suggestion, the timeline and the finaliser."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from attendance.models import AttendanceChange, TutoringSession
from attendance.services import attendance_finalize, attendance_suggest
from attendance.suggestions import Evidence, Policy, Span, suggest_participant
from attendance.tasks import attendance_finalize_task
from tests.conftest import T0
from tests.factories import TutoringSessionFactory, UserFactory
from tests.whiteboard.helpers import presence_trace
from whiteboard.services import presence_sweep


def minutes(n):
    return timedelta(minutes=n)


END = T0 + minutes(60)
AFTER = END + minutes(16)
GAP = ((T0 + minutes(5), T0 + minutes(12)),)


# --- the suggestion, pure -------------------------------------------------------------------------


def suggest(spans, *, outages=()):
    return suggest_participant(
        scheduled_start=T0,
        scheduled_end=END,
        evidence=Evidence(spans=tuple(Span(T0 + minutes(a), T0 + minutes(b)) for a, b in spans)),
        now=AFTER,
        policy=Policy(),
        outages=outages,
    )


def test_a_gap_lowers_the_confidence_and_says_when_the_server_heard_nothing():
    heard = [(0, 5), (12, 60)]
    without, with_gap = suggest(heard), suggest(heard, outages=GAP)
    assert without.status == with_gap.status == "present"
    assert without.confidence >= 0.8
    # 0.75 * (1 - 7/60) of what it was: below what the finaliser applies on its own.
    assert with_gap.confidence == round(without.confidence * 0.75 * (1 - 7 / 60), 2) < 0.8
    assert "the server heard nothing from anyone between 14:05 UTC and 14:12 UTC; presence then is unknown" in (
        with_gap.reasons
    )


def test_when_the_gap_could_change_the_status_the_confidence_drops_to_the_floor():
    # Heard until 14:50, then the server heard nothing until after the end: left early, or there all along?
    result = suggest([(0, 50)], outages=((T0 + minutes(50), END + minutes(5)),))
    assert result.status == "left_early"
    assert result.confidence == 0.3
    assert any("this would be present" in reason for reason in result.reasons)


def test_a_gap_outside_the_scheduled_time_changes_nothing():
    heard = [(0, 60)]
    assert suggest(heard, outages=((T0 - minutes(14), T0 - minutes(10)),)) == suggest(heard)


# --- from the database: an outage in the middle of a session ------------------------------------


@pytest.fixture
def outage_session(tutor, student):
    """Both there from the start; the server is away from T0+5 to T0+12 min (connections lapse, nobody is
    disconnected); after it everyone reconnects and stays to the end."""
    session = TutoringSessionFactory(tutor=tutor, student=student, scheduled_start=T0, scheduled_end=END)
    presence_trace(session.whiteboard, tutor, T0 - minutes(1), T0 + minutes(5), disconnect=False)
    presence_trace(session.whiteboard, student, T0, T0 + minutes(5), disconnect=False)
    presence_sweep(now=T0 + minutes(12))
    presence_trace(session.whiteboard, tutor, T0 + minutes(12), END, every=40)
    presence_trace(session.whiteboard, student, T0 + minutes(12), END, every=40)
    return TutoringSession.objects.get(pk=session.pk)  # with its whiteboard as stored


@pytest.fixture
def clear_session(db):
    """Another session, later the same day, with no outage: the finaliser applies it."""
    tutor, student = UserFactory(), UserFactory()
    start = T0 + minutes(120)
    session = TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=start, scheduled_end=END + minutes(120)
    )
    presence_trace(session.whiteboard, tutor, start, session.scheduled_end, every=40)
    presence_trace(session.whiteboard, student, start, session.scheduled_end, every=40)
    return session


def test_the_suggestion_of_a_session_with_an_outage_says_presence_was_unknown(outage_session):
    suggestion = attendance_suggest(session=outage_session, now=AFTER)
    for part in (suggestion.tutor, suggestion.student):
        assert part.status == "present"
        assert part.confidence < 0.8
        assert "the server heard nothing from anyone between 14:05 and 14:12; presence then is unknown" in part.reasons


def test_the_finaliser_never_applies_a_session_that_overlaps_a_gap_and_says_why(outage_session, clear_session):
    later = clear_session.scheduled_end + minutes(16)
    report = attendance_finalize(now=later)
    assert (report.applied, report.left_for_tutor) == (1, 1)
    assert report.presence_unknown == {
        outage_session.pk: "the server heard nothing from anyone from 2026-03-10 14:05 to 14:12 UTC"
    }
    outage_session.refresh_from_db()
    assert outage_session.attendance_source == "system_default"
    assert outage_session.finalize_checked_at == later
    assert not AttendanceChange.objects.filter(session=outage_session).exists()
    clear_session.refresh_from_db()
    assert clear_session.attendance_source == "whiteboard_auto"


def test_the_session_stays_in_the_tutors_needs_decision_list(outage_session, tutor, clock):
    attendance_finalize(now=AFTER)
    clock.at(AFTER + minutes(1))
    client = Client()
    client.force_login(tutor)
    page = client.get("/")
    assert [card["session"].pk for card in page.context["groups"]["needs_decision"]] == [outage_session.pk]


def test_the_finalising_task_and_command_report_what_they_left_and_why(outage_session, clock):
    clock.at(AFTER)
    result = attendance_finalize_task.apply().get()
    assert result["presence_unknown"] == [
        {"session": outage_session.pk, "why": "the server heard nothing from anyone from 2026-03-10 14:05 to 14:12 UTC"}
    ]
    TutoringSession.objects.filter(pk=outage_session.pk).update(finalize_checked_at=None)
    out = StringIO()
    call_command("finalize_attendance", stdout=out)
    assert (
        f"session {outage_session.pk} left for the tutor, presence unknown: the server heard nothing" in out.getvalue()
    )


def test_the_timeline_hatches_the_gap_and_says_presence_then_is_unknown(outage_session, tutor, clock):
    clock.at(AFTER)
    client = Client()
    client.force_login(tutor)
    html = client.get(f"/sessions/{outage_session.pk}/").content.decode()
    assert html.count('data-testid="timeline-unknown"') == 2  # across both rows
    assert "The server heard nothing from anyone between 14:05 and 14:12; presence then is unknown, not absent." in html
    assert "unknown: the server heard nothing" in html  # the legend


def test_a_session_without_a_gap_draws_no_band(clear_session, clock):
    clock.at(clear_session.scheduled_end + minutes(5))
    client = Client()
    client.force_login(clear_session.tutor)
    html = client.get(f"/sessions/{clear_session.pk}/").content.decode()
    assert "timeline-unknown" not in html


def test_admin_sees_the_gap_beside_the_override_form(outage_session, staff, clock):
    clock.at(AFTER)
    client = Client()
    client.force_login(staff)
    html = client.get(f"/admin/attendance/tutoringsession/{outage_session.pk}/change/").content.decode()
    assert html.count('data-testid="timeline-unknown"') == 2
    assert "the server heard nothing from anyone between 14:05 and 14:12; presence then is unknown" in html
