"""The demo-data command: personas, sessions past, running and upcoming, and presence the real rules produced."""

import io
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from attendance.models import TutoringSession
from demo.management.commands import demo_data
from whiteboard.models import Connection, WhiteboardSession
from whiteboard.selectors import presence_snapshot

User = get_user_model()


@dataclass
class Run:
    output: str
    started: datetime
    finished: datetime


def run_demo_data(*args) -> Run:
    out = io.StringIO()
    started = timezone.now()
    call_command("demo_data", *args, stdout=out)
    return Run(out.getvalue(), started, timezone.now())


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """One run on an empty database, shared by the module (it takes seconds); removed afterwards."""
    with django_db_blocker.unblock():
        assert not User.objects.exists() and not TutoringSession.objects.exists()
        yield run_demo_data()
        Connection.objects.all().delete()
        TutoringSession.objects.all().delete()
        WhiteboardSession.objects.all().delete()
        User.objects.all().delete()


pytestmark = pytest.mark.usefixtures("demo", "db")


def counts() -> dict[str, int]:
    return {
        "users": User.objects.count(),
        "sessions": TutoringSession.objects.count(),
        "whiteboards": WhiteboardSession.objects.count(),
        "connections": Connection.objects.count(),
        "log entries": sum(len(w.connection_logs) for w in WhiteboardSession.objects.all()),
    }


def scenario(label: str) -> TutoringSession:
    return TutoringSession.objects.select_related("whiteboard").get(title__endswith=f"({label})")


def minutes(delta: timedelta) -> float:
    return delta.total_seconds() / 60


def student_events(session: TutoringSession) -> list[str]:
    return [e["event"] for e in session.whiteboard.connection_logs if e["role"] == "student"]


# --- people ------------------------------------------------------------------------------


def test_creates_a_staff_superuser_admin():
    admin = User.objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser
    assert admin.check_password(demo_data.PASSWORD)


def test_creates_three_tutors_and_five_students_who_can_sign_in_with_one_password():
    tutors = User.objects.filter(tutored_sessions__isnull=False).distinct()
    students = User.objects.filter(attended_sessions__isnull=False).distinct()
    assert tutors.count() == 3
    assert students.count() == 5
    for user in [*tutors, *students]:
        assert user.check_password(demo_data.PASSWORD), user
        assert not user.is_staff, user
        assert user.get_full_name(), user


def test_prints_the_demo_logins_and_the_shared_password(demo):
    assert "Demo logins" in demo.output
    assert demo.output.count(demo_data.PASSWORD) == 1
    logins = demo.output[demo.output.index("Demo logins") :]
    for user in User.objects.all():
        assert user.username in logins


# --- sessions ------------------------------------------------------------------------------


def test_sessions_lie_in_the_last_two_weeks_now_and_next_week(demo):
    now = demo.started
    past = TutoringSession.objects.filter(scheduled_end__lt=now)
    running = TutoringSession.objects.filter(scheduled_start__lte=now, scheduled_end__gt=now)
    upcoming = TutoringSession.objects.filter(scheduled_start__gt=demo.finished)
    assert 10 <= past.count() <= 20
    assert all(s.scheduled_start >= now - timedelta(days=14) for s in past)
    assert running.count() == 1
    assert 3 <= upcoming.count() <= 6
    assert all(s.scheduled_start <= now + timedelta(days=10) for s in upcoming)


def test_most_sessions_use_a_whiteboard_and_one_or_two_past_ones_were_in_person(demo):
    total = TutoringSession.objects.count()
    in_person = TutoringSession.objects.filter(whiteboard__isnull=True)
    assert 1 <= in_person.filter(scheduled_end__lt=demo.started).count() <= 2
    assert in_person.count() * 2 < total


def test_scheduled_sessions_start_at_plausible_local_hours_of_the_business(demo):
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    scheduled = TutoringSession.objects.exclude(title__endswith=f"({demo_data.RUNNING})")
    for session in scheduled:
        local = session.scheduled_start.astimezone(zone)
        assert 9 <= local.hour <= 19, session
        assert local.minute in (0, 30), session
        assert minutes(session.scheduled_end - session.scheduled_start) in (45, 60), session


def test_attendance_is_left_at_its_defaults():
    assert set(TutoringSession.objects.values_list("attendance_source", flat=True)) == {"system_default"}
    assert set(TutoringSession.objects.values_list("tutor_attendance_status", flat=True)) == {"present"}
    assert set(TutoringSession.objects.values_list("student_attendance_status", flat=True)) == {"present"}
    assert not TutoringSession.objects.filter(attendance_marked_by__isnull=False).exists()
    assert not TutoringSession.objects.filter(attendance_marked_at__isnull=False).exists()


def test_upcoming_sessions_have_no_presence_yet(demo):
    for session in TutoringSession.objects.filter(scheduled_start__gt=demo.finished, whiteboard__isnull=False):
        assert session.whiteboard.connection_logs == []
        assert not session.whiteboard.connections.exists()


# --- presence, scenario by scenario ------------------------------------------------------------


def test_on_time_sessions_have_both_present_throughout():
    for session in TutoringSession.objects.filter(title__endswith=f"({demo_data.ON_TIME})"):
        wb, length = session.whiteboard, minutes(session.scheduled_end - session.scheduled_start)
        assert wb.tutor_connected_at <= session.scheduled_start
        assert wb.student_connected_at <= session.scheduled_start
        assert abs(wb.student_total_active_seconds / 60 - length) <= 2
        assert student_events(session) == ["connect", "disconnect"]


def test_the_late_student_joins_twelve_minutes_after_the_start():
    session = scenario(demo_data.LATE)
    wb = session.whiteboard
    assert abs(minutes(wb.student_connected_at - session.scheduled_start) - 12) <= 0.5
    assert wb.tutor_connected_at <= session.scheduled_start
    assert abs(wb.student_total_active_seconds / 60 - 48) <= 0.5


def test_the_no_show_student_never_connected():
    wb = scenario(demo_data.NO_SHOW).whiteboard
    assert wb.student_connected_at is None
    assert wb.student_total_active_seconds == 0
    assert wb.tutor_total_active_seconds > 40 * 60


def test_the_dropped_connection_is_a_reconnect_with_two_minutes_missing():
    session = scenario(demo_data.DROPPED)
    wb = session.whiteboard
    assert student_events(session) == ["connect", "timeout", "connect", "disconnect"]
    assert len(wb.student_presence_spans) == 2
    stretch = minutes(wb.student_last_activity_at - wb.student_connected_at)
    assert abs(stretch - wb.student_total_active_seconds / 60 - 2) <= 0.5
    assert presence_snapshot(whiteboard=wb, now=session.scheduled_end)["student"].reconnects == 1


def test_the_second_tab_overlaps_the_first_and_is_counted_once():
    session = scenario(demo_data.SECOND_TAB)
    wb = session.whiteboard
    assert student_events(session) == ["connect", "connect", "disconnect", "disconnect"]
    tabs = list(Connection.objects.filter(whiteboard=wb, role="student").order_by("opened_at"))
    assert len(tabs) == 2 and tabs[1].opened_at < tabs[1].closed_at < tabs[0].closed_at
    union = minutes(tabs[0].closed_at - tabs[0].opened_at)
    assert abs(wb.student_total_active_seconds / 60 - union) <= 0.5


def test_the_background_tab_beats_once_a_minute_and_its_time_counts_as_hidden():
    session = scenario(demo_data.BACKGROUND)
    wb = session.whiteboard
    assert student_events(session) == ["connect", "disconnect"]
    assert abs(wb.student_hidden_seconds / 60 - 15) <= 1
    assert len(wb.student_presence_spans) == 1
    hidden_start, hidden_end = wb.student_presence_spans[0]["hidden"][0]
    assert minutes(datetime.fromisoformat(hidden_end) - datetime.fromisoformat(hidden_start)) > 14


def test_the_crashed_browser_stops_at_its_last_signal_and_the_sweep_logs_a_timeout():
    session = scenario(demo_data.CRASH)
    wb = session.whiteboard
    assert student_events(session) == ["connect", "timeout"]
    timeout = next(e for e in wb.connection_logs if e["event"] == "timeout")
    assert datetime.fromisoformat(timeout["last_seen_at"]) == wb.student_last_activity_at
    assert wb.student_disconnected_at == wb.student_last_activity_at
    assert minutes(wb.student_disconnected_at - session.scheduled_start) < 31
    assert Connection.objects.get(whiteboard=wb, role="student").close_reason == "timeout"


def test_connection_logs_are_in_time_order():
    for wb in WhiteboardSession.objects.all():
        times = [datetime.fromisoformat(e["at"]) for e in wb.connection_logs]
        assert times == sorted(times), wb


def test_the_running_session_started_twenty_minutes_ago_with_both_connected_now(demo):
    session = scenario(demo_data.RUNNING)
    assert 19.5 <= minutes(demo.finished - session.scheduled_start) <= 21.5
    status = presence_snapshot(whiteboard=session.whiteboard, now=demo.finished)
    assert status["tutor"].connected and status["student"].connected
    assert status["student"].open_connections == 1
    assert abs(status["student"].total_active_seconds / 60 - 19) <= 1.5
    assert not Connection.objects.filter(whiteboard=session.whiteboard, closed_at__isnull=False).exists()


# --- running it again ---------------------------------------------------------------------------


def test_running_it_again_duplicates_nothing():
    before = counts()
    again = run_demo_data()
    assert counts() == before
    assert "Demo logins" in again.output


def test_reset_rebuilds_the_demo_rows_and_leaves_other_accounts_alone():
    outsider = User.objects.create_user("someone_else", password="x")
    # An `admin` that existed before the demo is not the demo's to delete.
    User.objects.filter(username="admin").update(email="ops@example.org")
    old_sessions = set(TutoringSession.objects.values_list("pk", flat=True))
    before = counts()

    again = run_demo_data("--reset")

    assert counts() == before
    assert not old_sessions & set(TutoringSession.objects.values_list("pk", flat=True))
    assert User.objects.filter(pk=outsider.pk).exists()
    assert User.objects.get(username="admin").email == "ops@example.org"
    assert "existing account" in again.output


def test_a_parent_follows_leo_and_can_sign_in():
    from django.contrib.auth import get_user_model

    grace = get_user_model().objects.get(username="grace")
    assert grace.check_password(demo_data.PASSWORD)
    assert [s.username for s in grace.guardian.students.all()] == ["leo"]


def test_reset_refuses_while_the_demo_sessions_have_history():
    from django.core.management import CommandError

    from attendance.models import AttendanceChange
    from attendance.services import attendance_mark_by_hand

    session = TutoringSession.objects.filter(scheduled_end__lt=timezone.now()).order_by("scheduled_end").last()
    attendance_mark_by_hand(session=session, by=session.tutor, tutor_status=None, student_status="absent")
    before = counts()

    with pytest.raises(CommandError, match="Refusing to reset the demo data: attendance_history holds 1 change"):
        run_demo_data("--reset")

    assert counts() == before
    assert AttendanceChange.objects.count() == 1


# --- a live session on every run (issue #15); last: it adds a session the tests above do not expect ---------


def test_the_printed_logins_say_who_is_in_the_live_session(demo):
    logins = demo.output[demo.output.index("Demo logins") :]
    assert "priya" in logins and "<- in the live session now (tutor)" in logins
    assert "<- in the live session now (student)" in logins
    assert "Live now: Statistics (live demo)" in logins


def test_a_run_days_later_starts_a_new_live_session_with_both_connected():
    import time_machine

    # Three days on, at 11:00 local: a fixed hour, so the live session never meets the timetable's own
    # (Physics, james with mia, at 18:00 that day) whatever the wall clock says when the tests run.
    later = timezone.localtime() + timedelta(days=3)
    with time_machine.travel(later.replace(hour=11, minute=0, second=0, microsecond=0), tick=False):
        again = run_demo_data()
        now = timezone.now()
        live = TutoringSession.objects.filter(scheduled_start__lte=now, scheduled_end__gt=now)
        assert live.count() == 1
        session = live.select_related("whiteboard", "tutor", "student").get()
        assert (session.tutor.username, session.student.username) == ("priya", "mia")
        assert session.scheduled_end - now >= timedelta(minutes=30)
        status = presence_snapshot(whiteboard=session.whiteboard, now=now)
        assert status["tutor"].connected and status["student"].connected
        assert f"Live now: {session.title} (#{session.pk})" in again.output
