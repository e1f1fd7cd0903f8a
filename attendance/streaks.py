"""Alerts from patterns (issue 19): runs of absences, of lateness, and tutor no-shows.

A run is the person's latest decided sessions with the same status, newest first, counted
back until a session with another status. Excused sessions neither count nor break a run, and
sessions nobody decided (still `system_default`, an assumed "present") are left out the same
way: they say nothing yet. A run that reaches its threshold (settings.ATTENDANCE_ALERTS) is
stored as an `AttendanceStreak` and announced once (the `streak_opened` signal); the run
growing keeps the same streak (its key is the kind, the person and the run's first session),
and a session with another status closes it. A new run later is a new streak.

Updated after every attendance change commits (`streaks_after_change`), for the session's
student and tutor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from attendance.models import (
    AttendanceChange,
    AttendanceSource,
    AttendanceStatus,
    AttendanceStreak,
    StreakKind,
    TutoringSession,
)
from attendance.signals import streak_opened

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLDS = {"absences_in_a_row": 3, "late_in_a_row": 3, "tutor_no_shows_in_a_row": 1}


@dataclass(frozen=True)
class StreakRule:
    kind: str
    role: str  # whose status: "student" or "tutor"
    status: str
    setting: str  # key in settings.ATTENDANCE_ALERTS

    @property
    def threshold(self) -> int:
        configured = {**DEFAULT_THRESHOLDS, **(getattr(settings, "ATTENDANCE_ALERTS", None) or {})}
        return max(1, int(configured[self.setting]))


RULES = (
    StreakRule(StreakKind.STUDENT_ABSENCES, "student", AttendanceStatus.ABSENT, "absences_in_a_row"),
    StreakRule(StreakKind.STUDENT_LATENESS, "student", AttendanceStatus.LATE, "late_in_a_row"),
    StreakRule(StreakKind.TUTOR_NO_SHOWS, "tutor", AttendanceStatus.ABSENT, "tutor_no_shows_in_a_row"),
)


def current_run(*, person_id: int, rule: StreakRule) -> list[int]:
    """The person's latest run of `rule.status` as session ids, oldest first (empty: no run now)."""
    status_field = f"{rule.role}_attendance_status"
    sessions = (
        TutoringSession.objects.filter(**{f"{rule.role}_id": person_id})
        .exclude(attendance_source=AttendanceSource.SYSTEM_DEFAULT)
        .exclude(**{status_field: AttendanceStatus.EXCUSED})
        .order_by("-scheduled_start", "-pk")
        .values_list("pk", status_field)
    )
    run: list[int] = []
    for pk, status in sessions.iterator(chunk_size=50):
        if status != rule.status:
            break
        run.append(pk)
    run.reverse()
    return run


def streak_update(*, person_id: int, rule: StreakRule, now: datetime) -> AttendanceStreak | None:
    """Bring the person's streak of this kind up to date; the streak if this call opened it."""
    run = current_run(person_id=person_id, rule=rule)
    open_streaks = list(AttendanceStreak.objects.filter(person_id=person_id, kind=rule.kind, closed_at__isnull=True))
    in_run = set(run)
    keep = None
    if len(run) >= rule.threshold:
        # The open streak whose first session is still in the run is this run (a run that also
        # grew backwards, e.g. an older session corrected to absent, is still the same one).
        keep = next((s for s in open_streaks if s.first_session_id in in_run), None)
    for streak in open_streaks:
        if streak is not keep:
            AttendanceStreak.objects.filter(pk=streak.pk, closed_at__isnull=True).update(closed_at=now)
    if len(run) < rule.threshold:
        return None
    if keep is not None:
        if (keep.length, keep.last_session_id) != (len(run), run[-1]):
            AttendanceStreak.objects.filter(pk=keep.pk).update(length=len(run), last_session_id=run[-1])
        return None
    try:
        with transaction.atomic():
            return AttendanceStreak.objects.create(
                key=f"{rule.kind}:{person_id}:{run[0]}",
                kind=rule.kind,
                person_id=person_id,
                first_session_id=run[0],
                last_session_id=run[-1],
                length=len(run),
                opened_at=now,
            )
    except IntegrityError:
        # Opened by a concurrent update, or this run was noticed before and closed meanwhile (an
        # edit broke it, another put it back): noticed once already, so reopen quietly.
        AttendanceStreak.objects.filter(key=f"{rule.kind}:{person_id}:{run[0]}").update(
            closed_at=None, length=len(run), last_session_id=run[-1]
        )
        return None


def streaks_update_for_session(*, session: TutoringSession, now: datetime | None = None) -> list[AttendanceStreak]:
    """Update the streaks of a session's student and tutor; the streaks this call opened (announced on commit)."""
    now = now or timezone.now()
    opened = []
    for rule in RULES:
        person_id = session.student_id if rule.role == "student" else session.tutor_id
        streak = streak_update(person_id=person_id, rule=rule, now=now)
        if streak is not None:
            opened.append(streak)
    for streak in opened:
        transaction.on_commit(lambda s=streak: streak_opened.send(sender=AttendanceStreak, streak=s), robust=True)
    return opened


def streaks_after_change(*, change: AttendanceChange) -> list[AttendanceStreak]:
    """Called once an attendance change has committed."""
    session = TutoringSession.objects.only("pk", "student_id", "tutor_id").get(pk=change.session_id)
    with transaction.atomic():
        return streaks_update_for_session(session=session, now=change.changed_at)


def open_streaks():
    """Open streaks, newest first, with what a list shows."""
    return (
        AttendanceStreak.objects.filter(closed_at__isnull=True)
        .select_related("person", "first_session", "last_session")
        .order_by("-opened_at", "-id")
    )
