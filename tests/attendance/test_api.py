"""Attendance suggestion, marking and history through the API (issue #3)."""

from datetime import timedelta

import pytest

from attendance.models import AttendanceChange, TutoringSession
from tests.conftest import T0
from tests.factories import TutoringSessionFactory
from tests.whiteboard.helpers import presence_trace

pytestmark = pytest.mark.django_db

END = T0 + timedelta(hours=1)


def minutes(n):
    return timedelta(minutes=n)


def url(session, what):
    return f"/api/tutor/sessions/{session.pk}/{what}"


@pytest.fixture
def both_on_time(session, tutor, student):
    presence_trace(session.whiteboard, tutor, T0 - minutes(2), END)
    presence_trace(session.whiteboard, student, T0 - minutes(1), END)
    return session


@pytest.fixture
def student_late(session, tutor, student):
    presence_trace(session.whiteboard, tutor, T0 - minutes(2), END)
    presence_trace(session.whiteboard, student, T0 + minutes(12), END)
    return session


# --- suggestion ------------------------------------------------------------------


def test_suggestion_for_a_clean_session_is_present_and_sure(api, tutor, both_on_time, clock):
    clock.at(END + minutes(1))
    body = api(tutor).get(url(both_on_time, "attendance-suggestion")).json()
    assert body["session_id"] == both_on_time.pk
    assert body["final"] is True
    assert body["student"]["status"] == body["tutor"]["status"] == "present"
    assert body["student"]["confidence"] >= 0.9
    assert body["student"]["metrics"]["coverage"] >= 0.99
    # Joining a minute early earns nothing: only the window counts.
    assert body["student"]["metrics"]["active_seconds"] == 3600
    assert body["together_seconds"] == 3600
    assert body["policy"]["late_after_minutes"] == 5


def test_suggestion_for_a_late_student_says_late_and_why(api, tutor, student_late, clock):
    clock.at(END + minutes(1))
    student = api(tutor).get(url(student_late, "attendance-suggestion")).json()["student"]
    assert student["status"] == "late"
    assert student["confidence"] >= 0.8
    assert student["metrics"]["minutes_late"] == 12
    assert any("12" in reason for reason in student["reasons"])


def test_suggestion_for_a_no_show_is_absent(api, tutor, session, clock):
    presence_trace(session.whiteboard, tutor, T0, END)
    clock.at(END + minutes(1))
    student = api(tutor).get(url(session, "attendance-suggestion")).json()["student"]
    assert student["status"] == "absent"
    assert student["confidence"] >= 0.9


def test_suggestion_while_running_is_provisional(api, tutor, student, session, clock):
    presence_trace(session.whiteboard, student, T0, T0 + minutes(30), disconnect=False)
    clock.at(T0 + minutes(30))
    body = api(tutor).get(url(session, "attendance-suggestion")).json()
    assert body["final"] is False
    assert body["student"]["status"] == "present"


def test_session_without_whiteboard_suggests_unknown(api, tutor, student, clock):
    session = TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=T0, scheduled_end=END, whiteboard=None
    )
    clock.at(END + minutes(1))
    body = api(tutor).get(url(session, "attendance-suggestion")).json()
    assert body["student"]["status"] == body["tutor"]["status"] == "unknown"
    assert body["student"]["confidence"] == 0


@pytest.mark.parametrize("who", ["student", "other_tutor", "other_student"])
def test_only_the_tutor_and_staff_see_the_suggestion(request, api, session, staff, tutor, who, clock):
    clock.at(END)
    outsider = request.getfixturevalue(who)
    assert api(outsider).get(url(session, "attendance-suggestion")).status_code == 404
    assert api(tutor).get(url(session, "attendance-suggestion")).status_code == 200
    assert api(staff).get(url(session, "attendance-suggestion")).status_code == 200


# --- marking ---------------------------------------------------------------------


def test_tutor_marks_by_hand_and_it_is_recorded_as_manual(api, tutor, session, clock):
    clock.at(END + minutes(5))
    response = api(tutor).put(
        url(session, "attendance"),
        {
            "tutor_attendance_status": "present",
            "student_attendance_status": "absent",
            "notes": "No show, no message",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["student_attendance_status"] == "absent"
    assert body["attendance_source"] == "manual"
    assert body["attendance_marked_by"]["id"] == tutor.pk
    session.refresh_from_db()
    assert (session.student_attendance_status, session.attendance_source) == ("absent", "manual")
    assert session.attendance_marked_at == END + minutes(5)
    change = AttendanceChange.objects.get(session=session)
    assert (change.old_student_status, change.new_student_status) == ("present", "absent")
    assert (change.actor, change.source, change.notes) == (tutor, "manual", "No show, no message")
    assert change.changed_at == END + minutes(5)


def test_tutor_accepts_the_suggestion(api, tutor, student_late, clock):
    clock.at(END + minutes(2))
    response = api(tutor).put(url(student_late, "attendance"), {"apply_suggestion": True, "notes": "ok"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["student_attendance_status"] == "late"
    assert response.json()["attendance_source"] == "whiteboard_auto"
    change = AttendanceChange.objects.get(session=student_late)
    assert change.actor == tutor
    # The evidence is kept whole with the change: confidence, metrics and the policy used.
    assert change.suggestion["student"]["status"] == "late"
    assert change.suggestion["student"]["metrics"]["minutes_late"] == 12
    assert change.suggestion["policy"]["late_after_minutes"] == 5


def test_staff_marking_is_an_admin_override_and_locks_out_the_tutor(api, tutor, staff, session, clock):
    clock.at(END + minutes(5))
    response = api(staff).put(
        url(session, "attendance"),
        {"student_attendance_status": "excused", "notes": "Family emergency, confirmed"},
        format="json",
    )
    assert response.json()["attendance_source"] == "admin_override"

    response = api(tutor).put(url(session, "attendance"), {"student_attendance_status": "absent"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "admin_override_locked"
    assert "admin" in response.json()["detail"]
    session.refresh_from_db()
    assert session.student_attendance_status == "excused"
    assert AttendanceChange.objects.filter(session=session).count() == 1


def test_admin_override_needs_a_note(api, staff, session, clock):
    clock.at(END)
    response = api(staff).put(url(session, "attendance"), {"student_attendance_status": "absent"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "notes_required"


def test_a_session_not_yet_started_cannot_be_marked(api, tutor, session, clock):
    clock.at(T0 - minutes(1))
    response = api(tutor).put(url(session, "attendance"), {"student_attendance_status": "absent"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "not_started"
    clock.at(T0)
    response = api(tutor).put(url(session, "attendance"), {"student_attendance_status": "absent"}, format="json")
    assert response.status_code == 200


def test_tutor_may_mark_until_seven_days_after_the_end(api, tutor, session, clock):
    clock.at(END + timedelta(days=7))
    response = api(tutor).put(url(session, "attendance"), {"student_attendance_status": "late"}, format="json")
    assert response.status_code == 200
    clock.advance(1)
    response = api(tutor).put(url(session, "attendance"), {"student_attendance_status": "absent"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "marking_window_closed"
    session.refresh_from_db()
    assert session.student_attendance_status == "late"


def test_marking_window_is_a_setting(api, tutor, session, clock, settings):
    settings.ATTENDANCE_MARKING_WINDOW_DAYS = 1
    clock.at(END + timedelta(days=2))
    response = api(tutor).put(url(session, "attendance"), {"student_attendance_status": "late"}, format="json")
    assert response.json()["code"] == "marking_window_closed"


@pytest.mark.parametrize("who", ["student", "other_tutor", "other_student"])
def test_nobody_but_the_tutor_and_staff_may_mark(request, api, session, who, clock):
    clock.at(END)
    response = api(request.getfixturevalue(who)).put(
        url(session, "attendance"), {"student_attendance_status": "present"}, format="json"
    )
    assert response.status_code == 404
    assert TutoringSession.objects.get(pk=session.pk).attendance_source == "system_default"


def test_suggestion_cannot_be_applied_while_running_or_without_a_whiteboard(api, tutor, student, session, clock):
    clock.at(T0 + minutes(10))
    response = api(tutor).put(url(session, "attendance"), {"apply_suggestion": True}, format="json")
    assert response.json()["code"] == "suggestion_not_final"
    in_person = TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=T0, scheduled_end=END, whiteboard=None
    )
    clock.at(END + minutes(1))
    response = api(tutor).put(url(in_person, "attendance"), {"apply_suggestion": True}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "no_suggestion"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"notes": "only notes"},
        {"student_attendance_status": "unknown"},
        {"student_attendance_status": "maybe"},
        {"tutor_attendance_status": 3},
        {"apply_suggestion": True, "student_attendance_status": "absent"},
        {"apply_suggestion": "perhaps"},
        {"apply_suggestion": 0, "student_attendance_status": "late"},  # the schema says boolean: not 0 or "true"
        {"apply_suggestion": "true"},
        {"student_attendance_status": "absent", "notes": "x" * 2001},
        ["student_attendance_status", "absent"],
    ],
)
def test_bad_marking_requests_are_400_and_change_nothing(api, tutor, session, clock, body):
    clock.at(END)
    response = api(tutor).put(url(session, "attendance"), body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    session.refresh_from_db()
    assert session.attendance_source == "system_default"
    assert not AttendanceChange.objects.exists()


def test_malformed_json_is_a_clear_400(api, tutor, session, clock):
    clock.at(END)
    response = api(tutor).put(url(session, "attendance"), data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"


# --- history ---------------------------------------------------------------------


def test_history_lists_every_change_in_order_with_who_how_and_why(api, tutor, staff, session, clock):
    clock.at(END + minutes(1))
    api(tutor).put(
        url(session, "attendance"), {"student_attendance_status": "late", "notes": "5 min late"}, format="json"
    )
    clock.at(END + minutes(3))
    api(tutor).put(url(session, "attendance"), {"student_attendance_status": "present", "notes": "typo"}, format="json")
    clock.at(END + timedelta(days=1))
    api(staff).put(
        url(session, "attendance"), {"student_attendance_status": "excused", "notes": "doctor"}, format="json"
    )

    history = api(tutor).get(url(session, "attendance-history")).json()
    assert [(h["source"], h["old_student_status"], h["new_student_status"], h["notes"]) for h in history] == [
        ("manual", "present", "late", "5 min late"),
        ("manual", "late", "present", "typo"),
        ("admin_override", "present", "excused", "doctor"),
    ]
    assert [h["actor"]["username"] for h in history] == [tutor.username, tutor.username, staff.username]
    assert history[2]["previous_source"] == "manual"
    # Each chose only the student's status (issue 19: what was done with the suggestion).
    assert {h["action"] for h in history} == {"chose_student_status"}


def test_history_is_hidden_from_outsiders(api, student, other_tutor, session):
    assert api(student).get(url(session, "attendance-history")).status_code == 404
    assert api(other_tutor).get(url(session, "attendance-history")).status_code == 404


def test_history_cannot_be_edited_or_deleted_through_the_app(api, tutor, session, clock):
    clock.at(END)
    api(tutor).put(url(session, "attendance"), {"student_attendance_status": "late"}, format="json")
    change = AttendanceChange.objects.get()
    change.notes = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        change.save()
    with pytest.raises(ValueError, match="append-only"):
        change.delete()
    assert AttendanceChange.objects.get().notes == ""


def test_a_manual_mark_keeps_the_suggestion_it_disagreed_with(api, tutor, student_late, clock):
    clock.at(END + minutes(2))
    api(tutor).put(
        url(student_late, "attendance"),
        {"student_attendance_status": "present", "notes": "traffic, agreed in advance"},
        format="json",
    )
    change = AttendanceChange.objects.get(session=student_late)
    assert change.source == "manual"
    assert (change.new_student_status, change.suggestion["student"]["status"]) == ("present", "late")


def test_attendance_changed_is_announced_after_commit_only(tutor, session, clock, django_capture_on_commit_callbacks):
    from attendance.services import attendance_mark_by_hand
    from attendance.signals import attendance_changed

    heard = []

    def receiver(sender, change, **kwargs):
        heard.append(change.new_student_status)

    attendance_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="late", now=END)
            assert heard == []  # not before the commit
        assert heard == ["late"]
    finally:
        attendance_changed.disconnect(receiver)


def test_attendance_recorded_is_sent_inside_the_mark_so_a_failing_receiver_takes_the_mark_back(
    tutor, session, clock, django_capture_on_commit_callbacks
):
    from attendance.services import attendance_mark_by_hand
    from attendance.signals import attendance_recorded

    heard = []

    def receiver(sender, change, **kwargs):
        heard.append(AttendanceChange.objects.filter(pk=change.pk).exists())  # written already, uncommitted
        raise RuntimeError("a receiver that fails")

    attendance_recorded.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
            attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="late", now=END)
    finally:
        attendance_recorded.disconnect(receiver)
    assert heard == [True]
    assert not AttendanceChange.objects.exists()
    session.refresh_from_db()
    assert session.attendance_source == "system_default"
    assert callbacks == []  # nor is the change announced


def test_outsiders_learn_nothing_of_an_overridden_session_from_the_service(tutor, other_tutor, staff, session, clock):
    from attendance.services import attendance_mark_by_hand
    from core.errors import DomainError

    clock.at(END)
    attendance_mark_by_hand(session=session, by=staff, tutor_status=None, student_status="excused", notes="ok")
    with pytest.raises(DomainError) as refused:
        attendance_mark_by_hand(session=session, by=other_tutor, tutor_status=None, student_status="absent")
    assert refused.value.code == "not_found"
    with pytest.raises(DomainError) as locked:
        attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="absent")
    assert locked.value.code == "admin_override_locked"
