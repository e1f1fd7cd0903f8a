"""Parents and the e-mails that keep people informed.

A parent reports their child's absence ahead of time, or withdraws the report, through
`attendance.services.attendance_mark`: history, precedence and the row lock are the same as for
every other change, and the parent rules live with the others in `attendance.rules`.

E-mails are made with the change and go out after it commits, at most once per event and recipient:
`attendance_change_notify` runs inside the mark's transaction (the `attendance_recorded` signal, see
families/receivers.py), where `notification_prepare` makes a row with a unique key, the rendered message
and its Message-ID; after commit a Celery task (families/tasks.py) per row calls `notification_deliver`,
which sends it under the row's lock, records the outcome and says when to retry. A row whose task was
never queued (Redis down at the commit) or was lost is found by `notifications_overdue`.

Long because: the notices' one life cycle (prepare, deliver, retry, resend, overdue) sits beside the
three kinds of notice that start it (changes, digest, streaks); the next change here should move the
life cycle into a module of its own.
"""

import hashlib
import logging
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.utils import parseaddr

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
from families.models import Guardian, NotificationKind, NotificationStatus, SentNotification
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


def _message_id(key: str, created_at: datetime) -> str:
    """A Message-ID fixed for the notification: every attempt, and any resend, is recognisably one message."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return f"<{created_at:%Y%m%d%H%M%S%f}.{digest}@{domain}>"


def notification_prepare(
    *, key: str, kind: str, recipient, template: str, context: dict, change: AttendanceChange | None = None
) -> SentNotification | None:
    """The notification for `key`: made now (rendered, pending) unless it exists; None if there is no address.

    The row is the claim: the unique key means a retried task, a duplicated message or a concurrent run
    finds the row already there and makes no second one, whatever its context.
    """
    if not recipient.email:
        return None
    existing = SentNotification.objects.filter(key=key).first()
    if existing is not None:
        return existing
    zone = _zone_of(recipient)
    context = {**context, "recipient": recipient, "zone": zone.key}
    with timezone.override(zone):
        subject = " ".join(render_to_string(f"families/emails/{template}_subject.txt", context).split())
        text = render_to_string(f"families/emails/{template}.txt", context)
        html = render_to_string(f"families/emails/{template}.html", context)
    now = timezone.now()
    try:
        with transaction.atomic():
            return SentNotification.objects.create(
                key=key,
                kind=kind,
                recipient=recipient,
                email=recipient.email,
                subject=subject[:255],
                body_text=text,
                body_html=html,
                message_id=_message_id(key, now),
                change=change,
                created_at=now,
                next_attempt_at=now,
            )
    except IntegrityError:
        return SentNotification.objects.get(key=key)  # a concurrent run made it first


@dataclass(frozen=True)
class Delivery:
    """What one delivery attempt did: `sent`, `retry` (in `retry_in` seconds), `failed` (no retries left),
    or `skipped` (sent or failed already, or another worker is sending it right now)."""

    outcome: str
    retry_in: int | None = None


def notification_deliver(*, notification_id: int, now: datetime | None = None) -> Delivery:
    """Hand one pending notification to the mail server; when that fails, record why and when to retry.

    The row stays locked while the mail server talks: a duplicate task skips it rather than send it twice,
    and a worker that dies mid-send releases the lock with its connection, so the redelivered task sends
    it again, with the same Message-ID.
    """
    with transaction.atomic():
        notification = (
            SentNotification.objects.select_for_update(skip_locked=True)
            .filter(pk=notification_id, status=NotificationStatus.PENDING)
            .first()
        )
        if notification is None:
            return Delivery("skipped")
        message = EmailMultiAlternatives(
            subject=notification.subject,
            body=notification.body_text,
            to=[notification.email],
            headers={"Message-ID": notification.message_id},
        )
        message.attach_alternative(notification.body_html, "text/html")
        try:
            message.send()
        except Exception as error:  # any failure of the mail backend: refused, timed out, rejected
            return _delivery_failed(notification, error, now=now or timezone.now())
        notification.status = NotificationStatus.SENT
        notification.sent_at = now or timezone.now()
        notification.next_attempt_at = None
        notification.save(update_fields=["status", "sent_at", "next_attempt_at"])
    return Delivery("sent")


def _delivery_failed(notification: SentNotification, error: Exception, *, now: datetime) -> Delivery:
    delays = settings.NOTIFICATION_RETRY_DELAYS
    notification.attempts += 1
    notification.last_error = f"{type(error).__name__}: {error}"[:2000]
    if notification.attempts <= len(delays):
        retry_in = delays[notification.attempts - 1]
        notification.next_attempt_at = now + timedelta(seconds=retry_in)
        delivery = Delivery("retry", retry_in)
    else:
        notification.status = NotificationStatus.FAILED
        notification.next_attempt_at = None
        delivery = Delivery("failed")
    notification.save(update_fields=["attempts", "last_error", "next_attempt_at", "status"])
    logger.warning(
        "e-mail %s to %s failed (attempt %d): %s; %s",
        notification.key,
        notification.email,
        notification.attempts,
        notification.last_error,
        f"retrying in {delivery.retry_in} s" if delivery.retry_in is not None else "giving up",
    )
    return delivery


def notification_resend(*, notification: SentNotification, now: datetime | None = None) -> bool:
    """Queue a failed (or stuck pending) notification again, with fresh retries; False if it was sent.

    The caller enqueues its delivery. It keeps its Message-ID: it is the same message.
    """
    now = now or timezone.now()
    return bool(
        SentNotification.objects.filter(
            pk=notification.pk, status__in=[NotificationStatus.FAILED, NotificationStatus.PENDING]
        ).update(status=NotificationStatus.PENDING, attempts=0, next_attempt_at=now)
    )


def notifications_overdue(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Pending notifications long past due: their queued task was lost (or, without a broker, a retry is due)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.NOTIFICATION_REDELIVER_AFTER)
    return list(
        SentNotification.objects.filter(status=NotificationStatus.PENDING, next_attempt_at__lte=cutoff)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def attendance_change_notify(*, change: AttendanceChange) -> list[SentNotification]:
    """The e-mails one attendance change calls for, made (see notification_prepare); those still to send.

    Called inside the transaction that records the change, so the rows commit or roll back with it.

    - the child's parents (who want it) when the child is newly marked absent or late, by anyone;
    - the tutor when a parent reports an absence, or withdraws the report.

    Safe to call again for the same change: nothing is made twice.
    """
    session = TutoringSession.objects.select_related("tutor", "student").get(pk=change.session_id)
    context = {"change": change, "session": session, "student": session.student, "tutor": session.tutor}
    made = []
    kind = STATUS_KINDS.get(change.new_student_status)
    if kind is not None and change.new_student_status != change.old_student_status:
        guardians = Guardian.objects.filter(links__student_id=session.student_id, notify_absent_or_late=True)
        for guardian in guardians.select_related("user"):
            made.append(
                notification_prepare(
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
            )
    if change.source == AttendanceSource.PARENT_REPORTED:
        kind, template = NotificationKind.ABSENCE_REPORTED, "absence_reported"
    elif (change.previous_source, change.source) == (AttendanceSource.PARENT_REPORTED, AttendanceSource.SYSTEM_DEFAULT):
        # Only a parent's withdrawal sets the assumed default back (see attendance.rules.PARENT_SOURCES).
        kind, template = NotificationKind.REPORT_WITHDRAWN, "report_withdrawn"
    else:
        return _pending(made)
    made.append(
        notification_prepare(
            key=f"{kind}:{change.pk}:{session.tutor_id}",
            kind=kind,
            recipient=session.tutor,
            template=template,
            change=change,
            context={**context, "parent": change.actor, "session_url": _link("attendance:session", session.pk)},
        )
    )
    return _pending(made)


def _pending(notifications: list[SentNotification | None]) -> list[SentNotification]:
    return [n for n in notifications if n is not None and n.status == NotificationStatus.PENDING]


# --- the tutors' daily digest -----------------------------------------------------


@dataclass
class DigestReport:
    day: date
    # (tutor, sessions waiting, notification): made by this run, to be sent
    queued: list[tuple[object, int, SentNotification]] = field(default_factory=list)
    already_sent: list[tuple[object, int]] = field(default_factory=list)  # today's was made by an earlier run
    not_sent: list[tuple[object, int]] = field(default_factory=list)  # no e-mail address


def decision_digest_send(*, now: datetime | None = None) -> DigestReport:
    """Once a day, the e-mail telling each tutor the sessions waiting for their decision (made, to be sent).

    At most one digest per tutor per day (in the business's time zone): running it again the
    same day, even at the same moment, makes nothing new.
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
        notification = notification_prepare(
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
        if notification is None:
            report.not_sent.append((tutor, len(sessions)))
        else:
            report.queued.append((tutor, len(sessions), notification))
    return report


# --- alerts from patterns (issue 19) ------------------------------------------------

# Parents (who opted in) hear about their child's runs; tutor no-shows go to admins only.
PARENT_STREAK_KINDS = {StreakKind.STUDENT_ABSENCES, StreakKind.STUDENT_LATENESS}


def streak_notify(*, streak: AttendanceStreak) -> list[SentNotification]:
    """The notices of a streak that reached its threshold, made (see notification_prepare) for admins
    and, for a student's absences or lateness, the parents who opted in; those still to send.

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
    made = []
    for recipient, audience in recipients:
        link = _link("reports:streaks") if audience == "admin" else _link("families:home")
        made.append(
            notification_prepare(
                key=f"{NotificationKind.STREAK_ALERT}:{streak.pk}:{recipient.pk}",
                kind=NotificationKind.STREAK_ALERT,
                recipient=recipient,
                template="streak_alert",
                context={**context, "audience": audience, "link": link},
            )
        )
    return _pending(made)
