"""Keeping children's data no longer than needed: the retention purge and erasure on request."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from attendance.models import AttendanceChange, PresenceErasure
from attendance.retention import presence_detail_erase, presence_detail_purge
from attendance.services import attendance_mark_by_hand, attendance_suggest
from attendance.tasks import presence_detail_purge_task
from core.errors import DomainError
from tests.conftest import T0
from tests.factories import TutoringSessionFactory, UserFactory
from tests.whiteboard.helpers import presence_trace
from whiteboard.board import board_clear, board_engagement, board_stroke_begin
from whiteboard.models import BoardStroke, Connection, WhiteboardSession
from whiteboard.selectors import presence_snapshot
from whiteboard.services import presence_sweep

pytestmark = pytest.mark.django_db

END = T0 + timedelta(hours=1)
LATER = END + timedelta(days=400)  # past the default 396 days
TOTALS = ("connected_at", "disconnected_at", "last_activity_at", "total_active_seconds", "hidden_seconds", "reconnects")


def lived(session, *, tutor, student, offset=timedelta(0)):
    """The tutor there throughout; the student twice, the second time gone without a disconnect (a timeout)."""
    start = session.scheduled_start
    presence_trace(session.whiteboard, tutor, start - timedelta(minutes=2), start + timedelta(minutes=60))
    presence_trace(session.whiteboard, student, start + timedelta(minutes=7), start + timedelta(minutes=20))
    presence_trace(
        session.whiteboard, student, start + timedelta(minutes=25), start + timedelta(minutes=40), disconnect=False
    )
    presence_sweep(now=start + timedelta(minutes=45))
    # On the board: a stroke each, then the tutor clears it (drawings are raw detail too).
    for who, minute in ((tutor, 10), (student, 12)):
        board_stroke_begin(
            whiteboard_id=session.whiteboard_id,
            user=who,
            tool="pen",
            colour="#1f2937",
            width=3,
            points=[1, 1, 2, 2],
            now=start + timedelta(minutes=minute),
        )
    board_clear(whiteboard_id=session.whiteboard_id, user=tutor, now=start + timedelta(minutes=15))
    session.whiteboard.refresh_from_db()
    return session


@pytest.fixture
def past(session, tutor, student):
    """Tina's session with Sam, lived on the whiteboard and marked by Tina."""
    lived(session, tutor=tutor, student=student)
    attendance_mark_by_hand(session=session, by=tutor, tutor_status=None, student_status="late", notes="", now=END)
    return session


def totals(session, *, now):
    session.whiteboard.refresh_from_db()
    snapshot = presence_snapshot(whiteboard=session.whiteboard, now=now)
    return {role: {name: getattr(status, name) for name in TOTALS} for role, status in snapshot.items()}


def history(session):
    return list(AttendanceChange.objects.filter(session=session).order_by("id").values())


def browser(user):
    client = Client()
    client.force_login(user)
    return client


# --- the purge ------------------------------------------------------------------------------------------


def test_purge_removes_raw_detail_and_keeps_totals_suggestion_and_history(past):
    before_totals = totals(past, now=LATER)
    before_suggestion = attendance_suggest(session=past, now=LATER).to_dict()
    before_history = history(past)
    before_engagement = board_engagement(whiteboard=WhiteboardSession.objects.get(pk=past.whiteboard_id))
    assert before_totals["student"]["reconnects"] == 1
    log_entries = len(past.whiteboard.connection_logs)

    report = presence_detail_purge(now=LATER)

    assert report.as_dict() | {"cutoff": None} == {
        "cutoff": None,
        "dry_run": False,
        "whiteboards": 1,
        "batches": 1,
        "connections": 3,
        "log_entries": log_entries,
        "spans": 3,
        "strokes": 2,
        "board_clears": 1,
        "more": False,
    }
    board = WhiteboardSession.objects.get(pk=past.whiteboard_id)
    assert not Connection.objects.filter(whiteboard=board).exists()
    assert board.connection_logs == [] and board.tutor_presence_spans == [] and board.student_presence_spans == []
    assert board.detail_removed_at == LATER
    assert not BoardStroke.objects.filter(whiteboard=board).exists()
    assert board_engagement(whiteboard=board) == before_engagement  # the board's counters are totals: kept
    assert before_engagement["student"].strokes == 1
    assert totals(past, now=LATER) == before_totals
    past.refresh_from_db()
    assert attendance_suggest(session=past, now=LATER + timedelta(days=30)).to_dict() == before_suggestion
    assert history(past) == before_history


def test_sessions_inside_the_retention_are_left_whole(tutor, student):
    kept = TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=T0 + timedelta(days=5), scheduled_end=END + timedelta(days=5)
    )
    lived(kept, tutor=tutor, student=student)
    now = kept.scheduled_end + timedelta(days=settings.PRESENCE_RETENTION_DAYS) - timedelta(minutes=1)

    assert presence_detail_purge(now=now).whiteboards == 0
    assert Connection.objects.filter(whiteboard=kept.whiteboard).count() == 3
    assert presence_detail_purge(now=now + timedelta(minutes=2)).whiteboards == 1


def test_purge_twice_removes_nothing_more(past):
    first = presence_detail_purge(now=LATER)
    second = presence_detail_purge(now=LATER + timedelta(hours=1))
    assert first.whiteboards == 1
    assert second.as_dict()["whiteboards"] == 0 and sum(second.removed.values()) == 0


def test_dry_run_counts_what_the_purge_then_removes(past, tutor, student):
    other = TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=T0 + timedelta(days=1), scheduled_end=END + timedelta(days=1)
    )
    lived(other, tutor=tutor, student=student)

    dry = presence_detail_purge(now=LATER, dry_run=True)
    assert Connection.objects.count() == 6
    real = presence_detail_purge(now=LATER, batch_size=1)
    assert dry.whiteboards == real.whiteboards == 2
    assert dry.removed == real.removed
    assert real.batches == 2


def test_batches_are_bounded_and_say_when_more_is_due(past, tutor, student):
    other = TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=T0 + timedelta(days=1), scheduled_end=END + timedelta(days=1)
    )
    lived(other, tutor=tutor, student=student)
    report = presence_detail_purge(now=LATER, batch_size=1, max_batches=1)
    assert (report.whiteboards, report.more) == (1, True)
    assert presence_detail_purge(now=LATER, batch_size=1, max_batches=1).more is False


def test_command_dry_run_prints_counts_and_removes_nothing(past):
    out = StringIO()
    call_command("purge_presence_detail", "--dry-run", "--now", LATER.isoformat(), stdout=out)
    counts = json.loads(out.getvalue())
    assert (counts["dry_run"], counts["whiteboards"], counts["connections"]) == (True, 1, 3)
    assert Connection.objects.count() == 3


def test_the_daily_task_is_scheduled_and_reports_counts(past, clock):
    assert (
        settings.CELERY_BEAT_SCHEDULE["presence-detail-purge"]["task"] == "attendance.tasks.presence_detail_purge_task"
    )
    clock.at(LATER)
    assert presence_detail_purge_task.apply().result["connections"] == 3


def test_session_page_of_a_purged_session_says_the_detail_went_and_shows_the_totals(past, tutor, clock):
    presence_detail_purge(now=LATER)
    clock.at(LATER + timedelta(days=1))

    page = browser(tutor).get(f"/sessions/{past.pk}/")

    assert page.status_code == 200
    text = page.content.decode()
    assert text.count("Presence detail of the tutor and the student removed after 13 months (retention)") == 2
    assert 'data-testid="timeline"' not in text  # no lane reading "not on the whiteboard"
    assert 'data-testid="history-entry"' in text  # the tutor's mark stays
    assert 'class="js-reconnects">1<' in text  # Sam's reconnect, kept
    assert "Tutor" in text and "late" in text.lower()


def test_admin_evidence_of_a_purged_session_renders(past, staff, clock):
    presence_detail_purge(now=LATER)
    clock.at(LATER + timedelta(days=1))
    page = browser(staff).get(reverse("admin:attendance_tutoringsession_change", args=[past.pk]))
    assert page.status_code == 200
    assert "removed after 13 months" in page.content.decode()
    board = browser(staff).get(reverse("admin:whiteboard_whiteboardsession_change", args=[past.whiteboard_id]))
    assert board.status_code == 200
    assert (
        "student: " in board.content.decode()
        and "(retention); kept: 1 reconnect(s), 1 timeout(s)" in board.content.decode()
    )


# --- erasure on request -----------------------------------------------------------------------------------


def erase_url():
    return reverse("admin:attendance_presenceerasure_add")


def test_an_admin_erases_one_persons_detail_with_a_reason(past, staff, student, tutor, clock):
    clock.at(END + timedelta(days=2))
    suggestion = attendance_suggest(session=past, now=END + timedelta(days=2)).to_dict()
    tutor_connections = Connection.objects.filter(user=tutor).count()
    before = totals(past, now=END + timedelta(days=2))

    response = browser(staff).post(
        erase_url(), {"username": student.username, "reason": "Parent's e-mail of 1 Dec", "confirm": "on"}
    )

    assert response.status_code == 302
    record = PresenceErasure.objects.get()
    assert (record.person, record.erased_by, record.reason) == (student, staff, "Parent's e-mail of 1 Dec")
    assert record.session_ids == [past.pk]
    assert record.counts["connections"] == 2 and record.counts["spans"] == 2 and record.counts["left_open"] == 0
    assert not Connection.objects.filter(user=student).exists()
    assert Connection.objects.filter(user=tutor).count() == tutor_connections  # the tutor's detail stays
    board = WhiteboardSession.objects.get(pk=past.whiteboard_id)
    assert board.student_presence_spans == [] and board.tutor_presence_spans
    assert all(entry["role"] == "tutor" for entry in board.connection_logs)
    assert board.detail_removed_at is None  # the tutor's detail is still held
    assert totals(past, now=END + timedelta(days=2)) == before
    past.refresh_from_db()
    assert attendance_suggest(session=past).to_dict() == suggestion

    page = browser(tutor).get(f"/sessions/{past.pk}/").content.decode()
    assert "Presence detail of the student erased on request by" in page
    assert 'data-testid="history-removal"' in page
    assert 'data-testid="timeline"' in page  # the tutor's lane is still there


def test_erasure_needs_a_reason_and_a_confirmation(past, staff, student):
    client = browser(staff)
    for data in ({"username": student.username, "reason": "  ", "confirm": "on"}, {"username": student.username}):
        assert client.post(erase_url(), data).status_code == 400
    assert client.post(erase_url(), {"username": "nobody", "reason": "x", "confirm": "on"}).status_code == 400
    assert not PresenceErasure.objects.exists()
    assert Connection.objects.filter(user=student).count() == 2
    with pytest.raises(DomainError) as refused:
        presence_detail_erase(person=student, by=staff, reason=" ")
    assert refused.value.code == "reason_required"


def test_outsiders_cannot_erase(past, student, tutor):
    assert browser(tutor).get(erase_url()).status_code == 302  # not staff: sent to the admin sign-in
    assert Client().post(erase_url(), {"username": student.username, "reason": "x", "confirm": "on"}).status_code == 302
    staff_without_permission = UserFactory(username="sid_staff", is_staff=True)
    response = browser(staff_without_permission).post(
        erase_url(), {"username": student.username, "reason": "x", "confirm": "on"}
    )
    assert response.status_code == 403
    with pytest.raises(DomainError) as refused:
        presence_detail_erase(person=student, by=tutor, reason="because")
    assert refused.value.code == "permission_denied"
    assert not PresenceErasure.objects.exists()
    assert Connection.objects.filter(user=student).count() == 2


def test_erasure_leaves_sessions_not_over_and_the_record_is_read_only(past, staff, student, tutor):
    running = TutoringSessionFactory(
        tutor=tutor,
        student=student,
        scheduled_start=END + timedelta(days=1),
        scheduled_end=END + timedelta(days=1, hours=1),
    )
    presence_trace(running.whiteboard, student, running.scheduled_start, running.scheduled_start + timedelta(minutes=5))

    record = presence_detail_erase(
        person=student, by=staff, reason="request", now=running.scheduled_start + timedelta(minutes=10)
    )

    assert record.counts["left_open"] == 1 and record.session_ids == [past.pk]
    assert Connection.objects.filter(whiteboard=running.whiteboard).count() == 1
    with pytest.raises(ValueError, match="append-only"):
        record.save()
    with pytest.raises(ValueError, match="append-only"):
        record.delete()
    admin = browser(staff)
    assert admin.get(reverse("admin:attendance_presenceerasure_change", args=[record.pk])).status_code == 200
    assert admin.post(reverse("admin:attendance_presenceerasure_delete", args=[record.pk])).status_code == 403


def test_retention_after_an_erasure_keeps_the_first_suggestion_and_both_records(past, staff, student, tutor):
    suggestion = attendance_suggest(session=past, now=END + timedelta(days=1)).to_dict()
    presence_detail_erase(person=student, by=staff, reason="request", now=END + timedelta(days=1))
    presence_detail_purge(now=LATER)

    board = WhiteboardSession.objects.get(pk=past.whiteboard_id)
    assert board.presence_kept["suggestion"] == suggestion
    assert board.presence_kept["student"]["because"] == "erasure"
    assert board.presence_kept["tutor"]["because"] == "retention"
    assert not Connection.objects.filter(whiteboard=board).exists()
    page = browser(tutor).get(f"/sessions/{past.pk}/").content.decode()
    assert page.count('data-testid="history-removal"') == 2
