"""Parents and the e-mails that keep people informed.

A parent reports their child's absence ahead of time, or withdraws the report, through
`attendance.services.attendance_mark`: history, precedence and the row lock are the same as for
every other change, and the parent rules live with the others in `attendance.rules`.

E-mails go out after the change commits (the `attendance_changed` signal is sent on commit) and
at most once per event and recipient: `notification_send` inserts a row with a unique key
before sending, so a retry, a second receiver or a concurrent run finds the key taken.
"""

import logging
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import Profile, zone_or_default
from attendance.labels import SOURCE_HOW
from attendance.models import (
    AttendanceChange,
    AttendanceSource,
    AttendanceStatus,
    AttendanceStreak,
    StreakKind,
    TutoringSession,
)
from attendance.rules import parent_change_refusal
from attendance.selectors import sessions_waiting_for_decision
from attendance.services import attendance_mark
from core.errors import DomainError
from families.models import Guardian, NotificationKind, SentNotification
from families.selectors import is_guardian_of

logger = logging.getLogger(__name__)

STATUS_KINDS = {
    AttendanceStatus.ABSENT: NotificationKind.STUDENT_ABSENT,
    AttendanceStatus.LATE: NotificationKind.STUDENT_LATE,
}


# --- parents' settings ---------------------------------------------------------


def guardian_notifications_set(*, guardian: Guardian, notify_absent_or_late: bool) -> Guardian:
    guardian.notify_absent_or_late = notify_absent_or_late
    guardian.save(update_fields=["notify_absent_or_late"])
    return guardian


# --- absence reports ------------------------------------------------------------


def absence_report(*, session: TutoringSession, parent, reason: str, now: datetime | None = None) -> TutoringSession:
    """A parent says, before the start, that their child will miss a session.

    The child is marked `excused` with source `parent_reported` and the reason as the note. The
    rules (their child, before the start, nobody has marked it yet) are checked by
    attendance_mark under the session's row lock; the tutor is e-mailed once it commits.
    """
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Please say why your child will miss the session.", "reason_required")
    return attendance_mark(
        session=session,
        by=parent,
        source=AttendanceSource.PARENT_REPORTED,
        student_status=AttendanceStatus.EXCUSED,
        notes=reason,
        now=now,
    )


def absence_withdraw(*, session: TutoringSession, parent, now: datetime | None = None) -> TutoringSession:
    """Take back an absence report before the start: what the report replaced comes back.

    The statuses and source are read from the report's own history record, so the session
    returns exactly to its state before the report (usually the assumed default, which the
    finalising job and the tutor then treat as never marked). The withdrawal is a history
    record of its own.
    """
    with transaction.atomic():
        # Locked before reading the report, so it is still the latest change when the restore is written.
        locked = TutoringSession.objects.select_for_update().get(pk=session.pk)
        now = now or timezone.now()
        if not is_guardian_of(user_id=parent.pk, student_id=locked.student_id):
            raise DomainError("No such session.", "not_found")
        refusal = parent_change_refusal(locked, source=AttendanceSource.SYSTEM_DEFAULT, now=now)
        if refusal is not None:
            raise refusal
        report = locked.attendance_changes.order_by("-id").first()
        if report is None or report.source != AttendanceSource.PARENT_REPORTED:
            raise DomainError("There is no absence report to withdraw for this session.", "not_reported")
        return attendance_mark(
            session=locked,
            by=parent,
            source=report.previous_source,
            tutor_status=report.old_tutor_status,
            student_status=report.old_student_status,
            notes="The parent withdrew the absence report.",
            now=now,
        )


# --- e-mail ---------------------------------------------------------------------


def _zone_of(user) -> zoneinfo.ZoneInfo:
    """The zone the person reads times in (their profile's, else the business's)."""
    name = Profile.objects.filter(user=user).values_list("time_zone", flat=True).first()
    return zone_or_default(name or "")


def _link(name: str, *args) -> str:
    return settings.SITE_URL + reverse(name, args=args)


def notification_send(
    *, key: str, kind: str, recipient, template: str, context: dict, change: AttendanceChange | None = None
) -> bool:
    """E-mail one person about one event, at most once per `key`; True if this call sent it.

    The key is claimed (a row inserted and committed) before sending: anyone else trying the
    same key, now or later, gets an IntegrityError and sends nothing. If the mail server fails,
    the claim is released so that a later retry can send it.
    """
    if not recipient.email:
        return False
    zone = _zone_of(recipient)
    context = {**context, "recipient": recipient, "zone": zone.key}
    with timezone.override(zone):
        subject = " ".join(render_to_string(f"families/emails/{template}_subject.txt", context).split())
        text = render_to_string(f"families/emails/{template}.txt", context)
        html = render_to_string(f"families/emails/{template}.html", context)
    try:
        with transaction.atomic():
            claim = SentNotification.objects.create(
                key=key,
                kind=kind,
                recipient=recipient,
                email=recipient.email,
                subject=subject[:255],
                change=change,
                created_at=timezone.now(),
            )
    except IntegrityError:
        return False  # sent already, or being sent right now by someone else
    message = EmailMultiAlternatives(subject=subject, body=text, to=[recipient.email])
    message.attach_alternative(html, "text/html")
    try:
        message.send()
    except Exception:
        logger.exception("e-mail %s to %s failed; it can be retried", key, recipient.email)
        claim.delete()
        return False
    SentNotification.objects.filter(pk=claim.pk).update(sent_at=timezone.now())
    return True


def attendance_change_notify(*, change: AttendanceChange) -> int:
    """E-mail whoever should hear about one attendance change; how many mails this call sent.

    - the child's parents (who want it) when the child is newly marked absent or late, by anyone;
    - the tutor when a parent reports an absence, or withdraws the report.

    Safe to call again for the same change: nothing is sent twice.
    """
    session = TutoringSession.objects.select_related("tutor", "student").get(pk=change.session_id)
    context = {"change": change, "session": session, "student": session.student, "tutor": session.tutor}
    sent = 0
    kind = STATUS_KINDS.get(change.new_student_status)
    if kind is not None and change.new_student_status != change.old_student_status:
        guardians = Guardian.objects.filter(links__student_id=session.student_id, notify_absent_or_late=True)
        for guardian in guardians.select_related("user"):
            sent += notification_send(
                key=f"{kind}:{change.pk}:{guardian.pk}",
                kind=kind,
                recipient=guardian.user,
                template="student_absent_or_late",
                change=change,
                context={
                    **context,
                    "status": change.get_new_student_status_display().lower(),
                    "marked_how": SOURCE_HOW[change.source],
                    "family_url": _link("families:home"),
                },
            )
    if change.source == AttendanceSource.PARENT_REPORTED:
        kind, template = NotificationKind.ABSENCE_REPORTED, "absence_reported"
    elif (change.previous_source, change.source) == (AttendanceSource.PARENT_REPORTED, AttendanceSource.SYSTEM_DEFAULT):
        # Only a parent's withdrawal sets the assumed default back (see attendance.rules.PARENT_SOURCES).
        kind, template = NotificationKind.REPORT_WITHDRAWN, "report_withdrawn"
    else:
        return sent
    sent += notification_send(
        key=f"{kind}:{change.pk}:{session.tutor_id}",
        kind=kind,
        recipient=session.tutor,
        template=template,
        change=change,
        context={**context, "parent": change.actor, "session_url": _link("attendance:session", session.pk)},
    )
    return sent


# --- the tutors' daily digest -----------------------------------------------------


@dataclass
class DigestReport:
    day: date
    sent: list[tuple[object, int]] = field(default_factory=list)  # (tutor, sessions waiting)
    already_sent: list[tuple[object, int]] = field(default_factory=list)
    not_sent: list[tuple[object, int]] = field(default_factory=list)  # no address, or the mail server failed


def decision_digest_send(*, now: datetime | None = None) -> DigestReport:
    """Once a day, e-mail each tutor the sessions waiting for their decision.

    At most one digest per tutor per day (in the business's time zone): running it again the
    same day sends nothing new.
    """
    now = now or timezone.now()
    day = now.astimezone(zoneinfo.ZoneInfo(settings.TIME_ZONE)).date()
    by_tutor: dict[int, list[TutoringSession]] = {}
    waiting = sessions_waiting_for_decision(now=now).select_related("tutor", "student")
    for session in waiting.order_by("tutor_id", "scheduled_start"):
        by_tutor.setdefault(session.tutor_id, []).append(session)
    report = DigestReport(day=day)
    for sessions in by_tutor.values():
        tutor = sessions[0].tutor
        key = f"{NotificationKind.DECISION_DIGEST}:{tutor.pk}:{day.isoformat()}"
        if SentNotification.objects.filter(key=key).exists():
            report.already_sent.append((tutor, len(sessions)))
            continue
        cards = [{"session": s, "url": _link("attendance:session", s.pk)} for s in sessions]
        sent = notification_send(
            key=key,
            kind=NotificationKind.DECISION_DIGEST,
            recipient=tutor,
            template="decision_digest",
            context={
                "tutor": tutor,
                "cards": cards,
                "count": len(cards),
                "dashboard_url": _link("attendance:home"),
                "window_days": settings.ATTENDANCE_MARKING_WINDOW_DAYS,
            },
        )
        (report.sent if sent else report.not_sent).append((tutor, len(sessions)))
    return report


# --- alerts from patterns (issue 19) ------------------------------------------------

# Parents (who opted in) hear about their child's runs; tutor no-shows go to admins only.
PARENT_STREAK_KINDS = {StreakKind.STUDENT_ABSENCES, StreakKind.STUDENT_LATENESS}


def streak_notify(*, streak: AttendanceStreak) -> int:
    """Tell admins, and for a student's absences or lateness the parents who opted in, about a
    streak that reached its threshold; how many mails this call sent.

    Once per streak: the key is the streak's and the recipient's, so a retry or a second call sends nothing.
    """
    streak = AttendanceStreak.objects.select_related("person", "first_session", "last_session").get(pk=streak.pk)
    staff = get_user_model().objects.filter(is_staff=True, is_active=True).exclude(email="")
    recipients = [(user, "admin") for user in staff.order_by("pk")]
    if streak.kind in PARENT_STREAK_KINDS:
        guardians = Guardian.objects.filter(links__student_id=streak.person_id, notify_absent_or_late=True)
        recipients += [(g.user, "parent") for g in guardians.select_related("user").order_by("pk")]
    context = {
        "streak": streak,
        "person": streak.person,
        "what": streak.get_kind_display().lower(),
        "first": streak.first_session,
        "last": streak.last_session,
    }
    sent = 0
    for recipient, audience in recipients:
        link = _link("reports:streaks") if audience == "admin" else _link("families:home")
        sent += notification_send(
            key=f"{NotificationKind.STREAK_ALERT}:{streak.pk}:{recipient.pk}",
            kind=NotificationKind.STREAK_ALERT,
            recipient=recipient,
            template="streak_alert",
            context={**context, "audience": audience, "link": link},
        )
    return sent
