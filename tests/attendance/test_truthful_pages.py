"""Pages never show a wrong thing or offer an action that would fail (issue #15), with Django's test client."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.test import Client

from attendance.labels import change_applied_suggestion, change_confidence
from attendance.models import AttendanceChange
from attendance.services import attendance_apply_suggestion, attendance_finalize, attendance_mark_by_hand
from families.services import absence_report, absence_withdraw
from tests.conftest import T0
from tests.factories import GuardianFactory, UserFactory
from tests.whiteboard.helpers import Tab, presence_trace

pytestmark = pytest.mark.django_db

END = T0 + timedelta(hours=1)


def page(user, url: str) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def parent(student):
    user = UserFactory(username="pam_parent", first_name="Pam", last_name="Parent")
    GuardianFactory(user=user, children=[student])
    return user


# --- before the start -----------------------------------------------------------------------------


def test_before_the_start_the_session_page_says_when_and_offers_no_suggestion_and_no_form(tutor, session, clock):
    clock.at(T0 - timedelta(days=1))
    html = page(tutor, f"/sessions/{session.pk}/")
    assert "Starts at" in html and "Tue 10 Mar, 14:00" in html
    assert 'data-testid="not-started"' in html
    assert 'data-testid="mark-form"' not in html
    assert 'data-testid="accept-form"' not in html
    assert 'data-testid="suggestion"' not in html
    assert ">assumed<" not in html
    assert 'data-status="present"' not in html


def test_before_the_start_a_parents_report_is_the_one_status_shown(tutor, parent, session, clock):
    clock.at(T0 - timedelta(days=1))
    absence_report(session=session, parent=parent, reason="Dentist")
    html = page(tutor, f"/sessions/{session.pk}/")
    assert 'data-status="excused"' in html
    assert ">parent<" in html
    assert 'data-status="present"' not in html  # no assumed tutor status beside it
    assert 'data-testid="mark-form"' not in html


def test_upcoming_cards_show_no_status_for_tutor_and_student(tutor, student, session, clock):
    clock.at(T0 - timedelta(days=1))
    for user in (tutor, student):
        html = page(user, "/")
        assert 'data-testid="scheduled"' in html
        assert 'data-status="present"' not in html
        assert ">assumed<" not in html


# --- the tutor's whiteboard link -------------------------------------------------------------------


def test_the_tutor_gets_open_whiteboard_on_the_card_and_page_inside_the_presence_window(tutor, session, clock):
    clock.at(T0 - timedelta(minutes=10))
    link = f'href="/whiteboard/{session.whiteboard_id}/" data-testid="open-whiteboard">Open whiteboard<'
    assert link in page(tutor, "/")
    assert link in page(tutor, f"/sessions/{session.pk}/")


def test_outside_the_window_the_tutor_is_told_when_it_opens_not_given_a_link(tutor, session, clock):
    clock.at(T0 - timedelta(hours=2))
    assert "Open whiteboard" not in page(tutor, "/")
    html = page(tutor, f"/sessions/{session.pk}/")
    assert "Open whiteboard" not in html
    assert "Whiteboard opens at 13:45" in html


def test_staff_are_never_offered_someone_elses_whiteboard(staff, session, clock):
    clock.at(T0)
    assert "Open whiteboard" not in page(staff, "/")
    assert "Open whiteboard" not in page(staff, f"/sessions/{session.pk}/")


# --- parents see what the tutor sees -----------------------------------------------------------------


def test_a_parent_never_sees_in_progress_present_after_the_student_left(parent, student, session, clock):
    presence_trace(session.whiteboard, student, T0, T0 + timedelta(minutes=10))  # left after 10 minutes
    clock.at(T0 + timedelta(minutes=30))
    for url in ("/family/", f"/family/sessions/{session.pk}/"):
        html = page(parent, url)
        assert "In progress" in html
        assert "Left at 14:10" in html
        assert 'data-status="present"' not in html


def test_a_parent_sees_the_student_on_the_whiteboard_while_there(parent, student, session, clock):
    presence_trace(session.whiteboard, student, T0, T0 + timedelta(minutes=10), disconnect=False)
    clock.at(T0 + timedelta(minutes=10, seconds=5))
    assert "On the whiteboard</span>" in page(parent, "/family/")


# --- history in words ------------------------------------------------------------------------------


def history(user, session) -> str:
    html = page(user, f"/sessions/{session.pk}/")
    return html[html.index('data-testid="history"') :]


def test_history_names_the_tutor_uses_display_words_and_shows_no_confidence_for_a_mark_by_hand(
    tutor, student, session, clock
):
    presence_trace(session.whiteboard, tutor, T0, END)
    presence_trace(session.whiteboard, student, T0, T0 + timedelta(minutes=40))
    clock.at(END + timedelta(minutes=5))
    attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="left_early", notes="")
    text = history(tutor, session)
    assert f"Marked by {tutor.get_full_name()}" in text
    assert "Student Present → <strong>Left early</strong>" in text
    assert "left_early" not in text
    assert "confidence" not in text  # a suggestion stood beside, but the tutor decided


def test_history_of_the_job_says_so_with_the_applied_suggestions_confidence(tutor, student, session, clock):
    presence_trace(session.whiteboard, tutor, T0 - timedelta(minutes=2), END)
    presence_trace(session.whiteboard, student, T0 - timedelta(minutes=1), END)
    attendance_finalize(now=END + timedelta(hours=1))
    clock.at(END + timedelta(hours=2))
    text = history(tutor, session)
    assert "Suggestion applied by the finalising job" in text
    assert "(confidence " in text


def test_an_admin_override_by_hand_names_the_admin_without_a_confidence(tutor, staff, session, clock):
    clock.at(END + timedelta(minutes=5))
    attendance_mark_by_hand(session=session, by=staff, tutor_status=None, student_status="absent", notes="Phoned")
    text = history(tutor, session)
    assert f"Admin override by {staff.get_full_name()}" in text
    assert "confidence" not in text


def test_a_withdrawn_parent_report_never_reads_assumed(tutor, parent, session, clock):
    clock.at(T0 - timedelta(days=1))
    absence_report(session=session, parent=parent, reason="Dentist")
    absence_withdraw(session=session, parent=parent)
    text = history(tutor, session)
    assert "Parent report by Pam Parent" in text
    assert "Parent report withdrawn by Pam Parent" in text
    assert "ssumed" not in text


def test_the_same_mark_again_writes_no_row(tutor, session, clock):
    clock.at(END + timedelta(minutes=5))
    for _ in range(2):
        attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="late", notes="")
    assert AttendanceChange.objects.filter(session=session).count() == 1


def test_rows_that_change_nothing_are_not_shown(tutor, session, clock):
    clock.at(END + timedelta(minutes=5))
    attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="late", notes="")
    # An older row that changed nothing (written before the rule above).
    AttendanceChange.objects.create(
        session=session,
        changed_at=END + timedelta(minutes=6),
        actor=tutor,
        source="manual",
        previous_source="manual",
        old_tutor_status="present",
        new_tutor_status="present",
        old_student_status="late",
        new_student_status="late",
    )
    assert history(tutor, session).count('data-testid="history-entry"') == 1


# --- hidden tabs --------------------------------------------------------------------------------------


def test_a_hidden_tab_is_connected_tab_hidden_on_the_page_and_in_the_status_json(api, tutor, student, session, clock):
    clock.at(T0)
    tab = Tab(api(student), session.whiteboard_id)
    assert tab.connect().status_code == 200
    clock.advance(15)
    assert tab.beat("hidden").status_code == 200
    clock.advance(60)
    assert tab.beat("hidden").status_code == 200

    status = api(tutor).get(f"/api/whiteboard/sessions/{session.whiteboard_id}/connection-status").json()
    assert status["student"]["connected"] is True
    assert status["student"]["visibility"] == "hidden"
    assert status["tutor"]["visibility"] is None
    html = page(tutor, f"/sessions/{session.pk}/")
    assert "Connected · tab hidden" in html
    assert 'data-visibility="hidden"' in html

    clock.advance(5)
    assert tab.beat("visible").status_code == 200
    status = api(tutor).get(f"/api/whiteboard/sessions/{session.whiteboard_id}/connection-status").json()
    assert status["student"]["visibility"] == "visible"


# --- history wording reads issue 19's recorded action first ---------------------------------------


def _change(*, action: str, source: str = "admin_override", applied: bool | None = None):
    suggestion = {"tutor": {"status": "present", "confidence": 0.9}, "student": {"status": "late", "confidence": 0.7}}
    if applied is not None:
        suggestion["applied"] = applied
    return SimpleNamespace(action=action, source=source, suggestion=suggestion)


@pytest.mark.parametrize(
    ("action", "applied", "expected"),
    [
        ("accepted_suggestion", None, True),  # recorded: no flag needed
        ("chose_status", True, False),  # recorded action wins over a stray flag
        ("chose_student_status", None, False),
        ("", True, True),  # a row from before `action`: the flag says it
        ("", None, False),
    ],
)
def test_an_admins_change_counts_as_applied_by_its_action_else_by_the_flag(action, applied, expected):
    change = _change(action=action, applied=applied)
    assert change_applied_suggestion(change) is expected
    assert change_confidence(change) == (0.7 if expected else None)


def test_an_admin_accepting_the_suggestion_reads_suggestion_applied_with_its_confidence(
    tutor, student, staff, session, clock
):
    presence_trace(session.whiteboard, tutor, T0 - timedelta(minutes=2), END)
    presence_trace(session.whiteboard, student, T0 - timedelta(minutes=1), END)
    clock.at(END + timedelta(minutes=5))
    attendance_apply_suggestion(session=session, by=staff, notes="Checked")
    change = AttendanceChange.objects.get(session=session)
    assert (change.action, change.suggestion["applied"]) == ("accepted_suggestion", True)
    text = history(tutor, session)
    assert f"Admin override by {staff.get_full_name()} (suggestion applied)" in text
    assert "(confidence " in text
