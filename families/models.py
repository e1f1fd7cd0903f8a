"""Parents (guardians) of students, and the record of every e-mail the product sent."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class Guardian(models.Model):
    """A parent or other guardian: a user who follows their children's sessions.

    The primary key is the user's id, so a link row can be checked against its student
    in the database (nobody is their own guardian).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="guardian"
    )
    students = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="GuardianStudent", related_name="guardians", blank=True
    )
    notify_absent_or_late = models.BooleanField(
        default=True,
        verbose_name="E-mail me when my child is marked absent or late",
        db_comment="E-mail the parent when one of their children is marked absent or late",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "guardians"
        db_table_comment = "Parents (guardians): users who follow their children's sessions"
        verbose_name = "parent"

    def __str__(self):
        return self.user.get_full_name() or self.user.get_username()


class GuardianStudent(models.Model):
    """A parent's link to one of their children (a student)."""

    guardian = models.ForeignKey(Guardian, on_delete=models.CASCADE, related_name="links")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="guardian_links")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "guardian_students"
        db_table_comment = "Which parent follows which student (many to many)"
        verbose_name = "child"
        verbose_name_plural = "children"
        constraints = [
            # Also the index for "this parent's children" (its leading column).
            models.UniqueConstraint(fields=["guardian", "student"], name="%(app_label)s_%(class)s_unique_pair"),
            # guardian_id is the parent's user id (Guardian's primary key).
            models.CheckConstraint(
                condition=~Q(guardian=F("student")), name="%(app_label)s_%(class)s_not_own_guardian"
            ),
        ]

    def __str__(self):
        return f"{self.guardian} → {self.student}"


class NotificationKind(models.TextChoices):
    STUDENT_ABSENT = "student_absent", "Child marked absent"
    STUDENT_LATE = "student_late", "Child marked late"
    ABSENCE_REPORTED = "absence_reported", "Absence reported by a parent"
    REPORT_WITHDRAWN = "report_withdrawn", "Absence report withdrawn"
    DECISION_DIGEST = "decision_digest", "Sessions waiting for the tutor's decision"
    STREAK_ALERT = "streak_alert", "Attendance pattern (absences, lateness, no-shows in a row)"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class SentNotification(models.Model):
    """One e-mail to one person about one event, from the moment it is due until the mail server takes it.

    The row is made (with the message rendered) before anything is sent: its unique key is what stops a
    retried task, a duplicated message or a concurrent run sending it twice, and its fixed Message-ID
    makes a resend after a crash (the server took it, our record did not follow) the same message."""

    key = models.CharField(
        max_length=200,
        unique=True,
        db_comment="One per event and recipient, e.g. student_absent:<change id>:<parent id> or "
        "decision_digest:<tutor id>:<date>",
    )
    kind = models.CharField(max_length=30, choices=NotificationKind.choices)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    email = models.EmailField(db_comment="The address it is sent to")
    subject = models.CharField(max_length=255)
    change = models.ForeignKey(
        "attendance.AttendanceChange",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_comment="The attendance change it is about; null for digests",
    )
    created_at = models.DateTimeField(db_comment="When it was made (its key claimed), before the first attempt")
    sent_at = models.DateTimeField(
        null=True, blank=True, db_comment="When the mail server accepted it; null until then"
    )
    status = models.CharField(
        max_length=10,
        choices=NotificationStatus.choices,
        default=NotificationStatus.PENDING,
        db_comment="pending (queued, or waiting for a retry), sent, or failed (every retry failed)",
    )
    message_id = models.CharField(
        max_length=255,
        blank=True,
        db_comment="The Message-ID header, fixed per notification: every attempt sends the same message",
    )
    body_text = models.TextField(blank=True, db_comment="The plain-text body, rendered when the row was made")
    body_html = models.TextField(blank=True, db_comment="The HTML alternative, rendered when the row was made")
    attempts = models.PositiveIntegerField(
        default=0, db_comment="Failed attempts since it was queued (or queued again from admin)"
    )
    last_error = models.TextField(blank=True, db_comment="Why the last attempt failed")
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, db_comment="Pending: when it is due (now, or after a failure, the next retry)"
    )

    class Meta:
        db_table = "notifications_sent"
        db_table_comment = "Every e-mail due or sent, one row per event and recipient; the key makes sending idempotent"
        verbose_name = "e-mail notification"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=NotificationKind.values), name="%(app_label)s_%(class)s_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=NotificationStatus.values), name="%(app_label)s_%(class)s_status_valid"
            ),
            # Sent exactly when the mail server's acceptance is recorded.
            models.CheckConstraint(
                condition=Q(status=NotificationStatus.SENT, sent_at__isnull=False)
                | (~Q(status=NotificationStatus.SENT) & Q(sent_at__isnull=True)),
                name="%(app_label)s_%(class)s_sent_when_accepted",
            ),
        ]
        indexes = [
            # notifications_redeliver: pending rows by when they are due.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status=NotificationStatus.PENDING),
                name="notifications_pending_due",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} to {self.email}"
