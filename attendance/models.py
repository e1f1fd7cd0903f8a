"""The attendance tables: sessions, their history, disputes, calibration fits, alert streaks, erasure records.

Long because: Django looks for an app's models in this one module, and each table keeps its
constraints and database comments beside its fields.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now
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


class DecisionAction(models.TextChoices):
    """What the person (or job) did with the suggestion shown at a change (issue 19).

    Only a chosen status can disagree with the suggestion, so only those count towards the
    agreement rate; accepting the suggestion is counted apart. Rows written before this field
    existed hold "" and are read through `decision_action` (history is append-only: they are
    never updated).
    """

    ACCEPTED = "accepted_suggestion", "Accepted the suggestion"
    CHOSE = "chose_status", "Chose both statuses"
    CHOSE_TUTOR = "chose_tutor_status", "Chose the tutor's status"
    CHOSE_STUDENT = "chose_student_status", "Chose the student's status"
    OTHER = "other", "No decision on a suggestion"  # a parent's report or its withdrawal


# Which participants' statuses a person chose, per action.
CHOSEN_ROLES = {
    DecisionAction.CHOSE: ("tutor", "student"),
    DecisionAction.CHOSE_TUTOR: ("tutor",),
    DecisionAction.CHOSE_STUDENT: ("student",),
}


def decision_action(
    *, action: str, source: str, suggestion: dict | None, new_tutor_status: str, new_student_status: str
) -> str:
    """The action of a history row; for rows from before the field ("") it is derived from the row.

    Old rows: `whiteboard_auto` accepted; `manual` with a suggestion chose both statuses; an
    `admin_override` with a suggestion whose statuses it equals is ambiguous (an admin accepting
    was stored the same way), so it is taken as accepted: counted apart, it can never inflate
    the agreement rate. Everything else (no suggestion kept) made no decision on a suggestion.
    """
    if action:
        return action
    if source == AttendanceSource.WHITEBOARD_AUTO:
        return DecisionAction.ACCEPTED
    if not suggestion or source not in (AttendanceSource.MANUAL, AttendanceSource.ADMIN_OVERRIDE):
        return DecisionAction.OTHER
    if source == AttendanceSource.ADMIN_OVERRIDE:
        same = (suggestion.get("tutor") or {}).get("status") == new_tutor_status and (
            suggestion.get("student") or {}
        ).get("status") == new_student_status
        if same:
            return DecisionAction.ACCEPTED
    return DecisionAction.CHOSE


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
    updated_at = models.DateTimeField(
        default=timezone.now,
        db_default=Now(),  # rows inserted by hand or by another program are new changes too
        db_comment="When the session last changed (server time): every write goes through the attendance "
        "service's session_save, which sets it; the list API's changed_since reads it",
    )

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
            # List API sync: `GET /api/sessions?changed_since=...` pages in (updated_at, id) order.
            models.Index(fields=["updated_at", "id"], name="sessions_updated"),
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


class HistoryEvent(models.TextChoices):
    """What a history record is: a mark, a tutor's cancellation, a move to another time."""

    MARK = statuses.MARK, labels.EVENT_LABELS[statuses.MARK]
    CANCEL = statuses.CANCEL, labels.EVENT_LABELS[statuses.CANCEL]
    RESCHEDULE = statuses.RESCHEDULE, labels.EVENT_LABELS[statuses.RESCHEDULE]


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
    event = models.CharField(
        max_length=20,
        choices=HistoryEvent.choices,
        default=HistoryEvent.MARK,
        db_comment="What happened: mark (attendance set), cancel (the tutor cancelled an upcoming session), "
        "reschedule (the session moved; see rescheduled)",
    )
    rescheduled = models.JSONField(
        null=True,
        blank=True,
        db_comment="For a reschedule: the times before and after, {from: {start, end}, to: {start, end}} (UTC)",
    )
    action = models.CharField(
        max_length=30,
        choices=DecisionAction.choices,
        blank=True,
        default="",
        db_default="",
        db_comment="accepted_suggestion, chose_status, chose_tutor_status, chose_student_status, other; "
        "empty on rows written before it was recorded (derived when read)",
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
            models.CheckConstraint(
                condition=Q(event__in=HistoryEvent.values), name="%(app_label)s_%(class)s_event_valid"
            ),
            models.CheckConstraint(
                condition=Q(action__in=[*DecisionAction.values, ""]), name="%(app_label)s_%(class)s_action_valid"
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

    @property
    def decision(self) -> str:
        """The action, derived for rows from before it was recorded."""
        return decision_action(
            action=self.action,
            source=self.source,
            suggestion=self.suggestion,
            new_tutor_status=self.new_tutor_status,
            new_student_status=self.new_student_status,
        )


class SuggestionCalibration(models.Model):
    """One fit of the calibration for one participant role (`manage.py calibrate_suggestions`).

    The probability that a person keeps the suggested status, given the rule confidence and the
    status: p = 1 / (1 + exp(-(slope * logit(confidence) + intercepts[status]))) (Platt scaling
    with one intercept per suggested status, fitted by scikit-learn). The request path reads the
    latest row per role and applies that formula; it never imports the fitting library.
    """

    fitted_at = models.DateTimeField(db_comment="When the fit was made (server time)")
    role = models.CharField(max_length=10, db_comment="tutor or student")
    method = models.CharField(max_length=30, default="platt_per_status")
    sample_size = models.PositiveIntegerField(db_comment="Decisions (a person chose a status) the fit used")
    fitted = models.BooleanField(
        default=False, db_comment="False when too few decisions (or only one outcome): rule confidence stands"
    )
    brier_before = models.FloatField(null=True, blank=True, db_comment="Brier score of the rule confidence")
    brier_after = models.FloatField(
        null=True, blank=True, db_comment="Brier score of the calibrated figure (cross-validated when possible)"
    )
    parameters = models.JSONField(
        default=dict,
        blank=True,
        db_comment='{"slope": a, "intercepts": {status: b}, "counts": {status: n}}; statuses absent keep the rule confidence',
    )

    class Meta:
        db_table = "suggestion_calibrations"
        db_table_comment = "Calibration fits of the suggestion confidence, per participant role; the latest is used"
        ordering = ["-fitted_at", "-id"]
        indexes = [models.Index(fields=["role", "-fitted_at"], name="calibration_latest")]

    def __str__(self):
        return f"{self.role} calibration of {self.fitted_at:%Y-%m-%d %H:%M} (n={self.sample_size})"


class StreakKind(models.TextChoices):
    STUDENT_ABSENCES = "student_absences", "Student absent in a row"
    STUDENT_LATENESS = "student_lateness", "Student late in a row"
    TUTOR_NO_SHOWS = "tutor_no_shows", "Tutor absent (no-show)"


class AttendanceStreak(models.Model):
    """A run of the same worrying status of one person that reached the alert threshold.

    Its key is the kind, the person and the run's first session, so a run is noticed once
    however many sessions it grows by; a run broken and started again is a new streak.
    """

    key = models.CharField(max_length=100, unique=True, db_comment="<kind>:<person id>:<first session id>")
    kind = models.CharField(max_length=30, choices=StreakKind.choices)
    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attendance_streaks")
    first_session = models.ForeignKey(TutoringSession, on_delete=models.CASCADE, related_name="+")
    last_session = models.ForeignKey(TutoringSession, on_delete=models.CASCADE, related_name="+")
    length = models.PositiveIntegerField(db_comment="Sessions in the run so far")
    opened_at = models.DateTimeField(db_comment="When the run reached the threshold (server time)")
    closed_at = models.DateTimeField(
        null=True, blank=True, db_comment="When the run was broken (a session with another status); null: open"
    )

    class Meta:
        db_table = "attendance_streaks"
        db_table_comment = "Runs of absences, lateness or tutor no-shows that raised an alert, one per run"
        ordering = ["-opened_at"]
        indexes = [
            models.Index(fields=["person", "kind"], condition=Q(closed_at__isnull=True), name="streaks_open"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=StreakKind.values), name="%(app_label)s_%(class)s_kind_valid"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.person} x{self.length}"


class DisputeSettlement(models.TextChoices):
    KEPT = statuses.KEPT, labels.SETTLEMENT_LABELS[statuses.KEPT]
    OVERRIDDEN = statuses.OVERRIDDEN, labels.SETTLEMENT_LABELS[statuses.OVERRIDDEN]


class AttendanceDispute(models.Model):
    """A tutor's or parent's objection to a decision, raised within the dispute window; an admin settles it."""

    session = models.ForeignKey(TutoringSession, on_delete=models.PROTECT, related_name="disputes")
    change = models.ForeignKey(
        AttendanceChange,
        on_delete=models.PROTECT,
        related_name="+",
        db_comment="The decision contested: the session's latest history record when the dispute was raised",
    )
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    raised_at = models.DateTimeField(db_comment="Server time the dispute was raised")
    note = models.TextField(db_comment="Why the decision is contested, in the words of who raised it")
    settled_at = models.DateTimeField(null=True, blank=True, db_comment="When an admin settled it; null while open")
    settled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    settlement = models.CharField(
        max_length=20,
        choices=DisputeSettlement.choices,
        blank=True,
        default="",
        db_comment="kept (decision stands) or overridden (an admin override, in the history); empty while open",
    )
    settlement_note = models.TextField(blank=True, default="", db_comment="The admin's reason")

    class Meta:
        db_table = "attendance_disputes"
        db_table_comment = "Contested attendance decisions and how admins settled them"
        ordering = ["-raised_at"]
        constraints = [
            # One open dispute per session; also the index for "this session's open dispute".
            models.UniqueConstraint(
                fields=["session"], condition=Q(settled_at__isnull=True), name="%(app_label)s_%(class)s_one_open"
            ),
            models.CheckConstraint(
                condition=Q(settled_at__isnull=True, settlement="", settled_by__isnull=True)
                | Q(settled_at__isnull=False, settlement__in=DisputeSettlement.values),
                name="%(app_label)s_%(class)s_settled_consistently",
            ),
        ]
        indexes = [
            # Admin list: open disputes, oldest first.
            models.Index(fields=["raised_at"], condition=Q(settled_at__isnull=True), name="disputes_open"),
        ]

    def __str__(self):
        return f"Dispute on session {self.session_id} by {self.raised_by}"

    @property
    def is_open(self) -> bool:
        return self.settled_at is None


class PresenceErasure(models.Model):
    """One erasure of a person's raw presence detail on request (attendance/retention.py): append-only.

    The sessions' history shows it ("Presence detail erased ... on request"); the attendance history
    itself is never touched. On PostgreSQL the database refuses UPDATE and DELETE (migration 0011).
    """

    key = models.UUIDField(unique=True, db_comment="Written on each whiteboard the erasure touched (presence_kept)")
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_comment="Whose detail was erased"
    )
    erased_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    erased_at = models.DateTimeField(db_comment="Server time of the erasure")
    reason = models.TextField(db_comment="Why, as the admin gave it (the request it answers)")
    session_ids = models.JSONField(default=list, db_comment="The sessions whose detail of the person was erased")
    counts = models.JSONField(
        default=dict, db_comment="What was removed, per kind: connections, log_entries, spans (and later tables)"
    )

    class Meta:
        db_table = "presence_erasures"
        db_table_comment = "Erasures of a person's raw presence detail on request; UPDATE and DELETE are refused"
        ordering = ["-erased_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="%(app_label)s_%(class)s_has_reason"),
        ]

    def __str__(self):
        return f"Presence detail of {self.person} erased {self.erased_at:%Y-%m-%d %H:%M} by {self.erased_by}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("Erasure records are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Erasure records are append-only.")
