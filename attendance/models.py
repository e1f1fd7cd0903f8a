from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from attendance import labels, statuses


class AttendanceStatus(models.TextChoices):
    """Built from `attendance.statuses` and `attendance.labels`: the one definition of the values and their words."""

    PRESENT = statuses.PRESENT, labels.STATUS_LABELS[statuses.PRESENT]
    LATE = statuses.LATE, labels.STATUS_LABELS[statuses.LATE]
    LEFT_EARLY = statuses.LEFT_EARLY, labels.STATUS_LABELS[statuses.LEFT_EARLY]
    ABSENT = statuses.ABSENT, labels.STATUS_LABELS[statuses.ABSENT]
    EXCUSED = statuses.EXCUSED, labels.STATUS_LABELS[statuses.EXCUSED]


class AttendanceSource(models.TextChoices):
    """How the current attendance was determined (the design note's source values)."""

    MANUAL = statuses.MANUAL, labels.SOURCE_DESCRIPTIONS[statuses.MANUAL]
    WHITEBOARD_AUTO = statuses.WHITEBOARD_AUTO, labels.SOURCE_DESCRIPTIONS[statuses.WHITEBOARD_AUTO]
    PARENT_REPORTED = statuses.PARENT_REPORTED, labels.SOURCE_DESCRIPTIONS[statuses.PARENT_REPORTED]
    ADMIN_OVERRIDE = statuses.ADMIN_OVERRIDE, labels.SOURCE_DESCRIPTIONS[statuses.ADMIN_OVERRIDE]
    SYSTEM_DEFAULT = statuses.SYSTEM_DEFAULT, labels.SOURCE_DESCRIPTIONS[statuses.SYSTEM_DEFAULT]


# The fields holding a session's attendance: the API shows them, admin shows them read-only,
# the marking service writes them.
ATTENDANCE_FIELDS = statuses.ATTENDANCE_FIELDS


class TutoringSession(models.Model):
    """A scheduled tutoring session; the single source of truth for its attendance."""

    tutor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tutored_sessions")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="attended_sessions")
    title = models.CharField(max_length=200, blank=True, default="")
    scheduled_start = models.DateTimeField()
    scheduled_end = models.DateTimeField()
    whiteboard = models.OneToOneField(
        "whiteboard.WhiteboardSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tutoring_session",
        db_comment="The whiteboard used for the session; null for in-person or other sessions",
    )
    tutor_attendance_status = models.CharField(
        max_length=20,
        choices=AttendanceStatus.choices,
        default=AttendanceStatus.PRESENT,
        db_comment="Tutor's attendance: present, late, left_early, absent, excused",
    )
    student_attendance_status = models.CharField(
        max_length=20,
        choices=AttendanceStatus.choices,
        default=AttendanceStatus.PRESENT,
        db_comment="Student's attendance: present, late, left_early, absent, excused",
    )
    attendance_marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_comment="Who last set the attendance; null when the system did",
    )
    attendance_marked_at = models.DateTimeField(
        null=True, blank=True, db_comment="When the attendance was last set (server time)"
    )
    attendance_source = models.CharField(
        max_length=30,
        choices=AttendanceSource.choices,
        default=AttendanceSource.SYSTEM_DEFAULT,
        db_comment="How the attendance was determined: manual, whiteboard_auto, parent_reported, admin_override, system_default",
    )
    attendance_notes = models.TextField(blank=True, default="", db_comment="Why: notes given with the last change")
    finalize_checked_at = models.DateTimeField(
        null=True,
        blank=True,
        db_comment="When the finalising job looked and left the decision to the tutor (not sure enough)",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "sessions"
        db_table_comment = "Scheduled tutoring sessions and their attendance (source of truth)"
        ordering = ["scheduled_start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(tutor_attendance_status__in=AttendanceStatus.values),
                name="%(app_label)s_%(class)s_tutor_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(student_attendance_status__in=AttendanceStatus.values),
                name="%(app_label)s_%(class)s_student_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(attendance_source__in=AttendanceSource.values),
                name="%(app_label)s_%(class)s_source_valid",
            ),
            models.CheckConstraint(
                condition=Q(scheduled_end__gt=F("scheduled_start")),
                name="%(app_label)s_%(class)s_ends_after_start",
            ),
            models.CheckConstraint(
                condition=~Q(tutor=F("student")), name="%(app_label)s_%(class)s_tutor_is_not_student"
            ),
        ]
        indexes = [
            # Tutor dashboard: a tutor's sessions by time.
            models.Index(fields=["tutor", "scheduled_start"], name="sessions_tutor_start"),
            # Student page: a student's sessions by time.
            models.Index(fields=["student", "scheduled_start"], name="sessions_student_start"),
            # Staff reports and CSV export: every session in a date range.
            models.Index(fields=["scheduled_start"], name="sessions_start"),
            # Tutors' daily digest: a tutor's ended sessions still waiting for a decision.
            models.Index(
                fields=["tutor", "scheduled_end"],
                condition=Q(attendance_source=AttendanceSource.SYSTEM_DEFAULT),
                name="sessions_undecided_by_tutor",
            ),
            # Finalising job: ended sessions still at the system default that it has not looked at.
            models.Index(
                fields=["scheduled_end"],
                condition=Q(attendance_source=AttendanceSource.SYSTEM_DEFAULT, finalize_checked_at__isnull=True),
                name="sessions_unmarked_by_end",
            ),
        ]

    def __str__(self):
        label = self.title or "Session"
        return f"{label} #{self.pk}: {self.tutor} with {self.student}"


class AttendanceChange(models.Model):
    """One change of a session's attendance: append-only, never edited or deleted.

    An applied suggestion is stored whole (confidence, metrics, policy), so reading
    history never depends on today's rules.
    """

    session = models.ForeignKey(TutoringSession, on_delete=models.PROTECT, related_name="attendance_changes")
    changed_at = models.DateTimeField(db_comment="Server time of the change")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_comment="Who made the change; null for the system (finalising job)",
    )
    source = models.CharField(max_length=30, choices=AttendanceSource.choices)
    previous_source = models.CharField(max_length=30, choices=AttendanceSource.choices)
    old_tutor_status = models.CharField(max_length=20, choices=AttendanceStatus.choices)
    new_tutor_status = models.CharField(max_length=20, choices=AttendanceStatus.choices)
    old_student_status = models.CharField(max_length=20, choices=AttendanceStatus.choices)
    new_student_status = models.CharField(max_length=20, choices=AttendanceStatus.choices)
    notes = models.TextField(blank=True, default="")
    suggestion = models.JSONField(
        null=True,
        blank=True,
        db_comment="The suggestion standing at the change (applied or not): statuses, confidence, reasons, policy",
    )

    class Meta:
        db_table = "attendance_history"
        db_table_comment = "Append-only history of attendance changes; UPDATE and DELETE are refused"
        ordering = ["session", "id"]
        indexes = [
            # Reports' agreement rate: each session's latest change that carries a suggestion.
            models.Index(
                fields=["session", "-id"], condition=Q(suggestion__isnull=False), name="history_with_suggestion"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(source__in=AttendanceSource.values), name="%(app_label)s_%(class)s_source_valid"
            ),
            models.CheckConstraint(
                condition=Q(new_tutor_status__in=AttendanceStatus.values)
                & Q(new_student_status__in=AttendanceStatus.values),
                name="%(app_label)s_%(class)s_status_valid",
            ),
        ]

    def __str__(self):
        return f"{self.session_id} @ {self.changed_at:%Y-%m-%d %H:%M} by {self.actor or 'system'} ({self.source})"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("Attendance history is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Attendance history is append-only.")
