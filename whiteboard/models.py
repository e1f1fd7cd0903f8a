import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    TUTOR = "tutor"
    STUDENT = "student"


class Visibility(models.TextChoices):
    VISIBLE = "visible"
    HIDDEN = "hidden"


VISIBILITIES = frozenset(Visibility.values)  # for membership tests on hot paths (`.values` builds a list)


class WhiteboardSessionQuerySet(models.QuerySet):
    def of_participant(self, user):
        """Whiteboards whose tutoring session has `user` as its tutor or its student."""
        return self.filter(
            models.Q(tutoring_session__tutor_id=user.pk) | models.Q(tutoring_session__student_id=user.pk)
        )


class WhiteboardSession(models.Model):
    """The shared whiteboard of one tutoring session, with each participant's presence so far.

    The `*_presence_spans` lists hold each participant's continuous presence as
    `{"start", "end", "hidden": [[start, end], ...]}` (ISO 8601, UTC); active and
    hidden seconds are derived from them, so they never drift.
    """

    tutor_connected_at = models.DateTimeField(null=True, blank=True, db_comment="Tutor's first connection")
    tutor_disconnected_at = models.DateTimeField(
        null=True,
        blank=True,
        db_comment="When the tutor last went from connected to not connected; null while connected",
    )
    tutor_last_activity_at = models.DateTimeField(null=True, blank=True, db_comment="Last signal heard from the tutor")
    tutor_total_active_seconds = models.PositiveIntegerField(
        default=0, db_comment="Tutor's presence, union of all tabs"
    )
    tutor_hidden_seconds = models.PositiveIntegerField(
        default=0, db_comment="Part of the tutor's presence with the tab hidden"
    )
    tutor_presence_spans = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)

    student_connected_at = models.DateTimeField(null=True, blank=True, db_comment="Student's first connection")
    student_disconnected_at = models.DateTimeField(
        null=True,
        blank=True,
        db_comment="When the student last went from connected to not connected; null while connected",
    )
    student_last_activity_at = models.DateTimeField(
        null=True, blank=True, db_comment="Last signal heard from the student"
    )
    student_total_active_seconds = models.PositiveIntegerField(
        default=0, db_comment="Student's presence, union of all tabs"
    )
    student_hidden_seconds = models.PositiveIntegerField(
        default=0, db_comment="Part of the student's presence with the tab hidden"
    )
    student_presence_spans = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)

    connection_logs = models.JSONField(
        default=list,
        blank=True,
        encoder=DjangoJSONEncoder,
        db_comment="Audit trail of connect, disconnect and timeout events (server time); heartbeats are not logged",
    )
    presence_kept = models.JSONField(
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        db_comment="What stays once raw detail is removed (whiteboard/retention.py): per role the totals the "
        "removed detail held (reconnects, timeouts) and when and why it went; the suggestion as it stood",
    )
    detail_removed_at = models.DateTimeField(
        null=True,
        blank=True,
        db_comment="When retention removed all raw presence detail (connections, log, spans); null: still held",
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = WhiteboardSessionQuerySet.as_manager()

    class Meta:
        db_table = "whiteboard_sessions"
        db_table_comment = "Shared whiteboards and the presence measured on them"

    def __str__(self):
        return f"Whiteboard #{self.pk}"


@dataclass(frozen=True)
class PresenceColumns:
    """The names of one participant's presence columns on `WhiteboardSession`, spelled out so a search finds them."""

    connected_at: str
    disconnected_at: str
    last_activity_at: str
    total_active_seconds: str
    hidden_seconds: str
    presence_spans: str


PRESENCE_COLUMNS = {
    Role.TUTOR: PresenceColumns(
        connected_at="tutor_connected_at",
        disconnected_at="tutor_disconnected_at",
        last_activity_at="tutor_last_activity_at",
        total_active_seconds="tutor_total_active_seconds",
        hidden_seconds="tutor_hidden_seconds",
        presence_spans="tutor_presence_spans",
    ),
    Role.STUDENT: PresenceColumns(
        connected_at="student_connected_at",
        disconnected_at="student_disconnected_at",
        last_activity_at="student_last_activity_at",
        total_active_seconds="student_total_active_seconds",
        hidden_seconds="student_hidden_seconds",
        presence_spans="student_presence_spans",
    ),
}


class Connection(models.Model):
    """One tab (or socket) of one participant on a whiteboard, from connect to disconnect or timeout."""

    class CloseReason(models.TextChoices):
        DISCONNECT = "disconnect"
        TIMEOUT = "timeout"

    whiteboard = models.ForeignKey(WhiteboardSession, on_delete=models.CASCADE, related_name="connections")
    role = models.CharField(max_length=10, choices=Role.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    connection_id = models.UUIDField(default=uuid.uuid4, db_comment="Client-made id of the tab or socket")
    opened_at = models.DateTimeField()
    last_signal_at = models.DateTimeField(db_comment="Server time of the last connect or heartbeat")
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.VISIBLE)
    expires_at = models.DateTimeField(db_comment="Alive until then unless heard from again; depends on visibility")
    closed_at = models.DateTimeField(null=True, blank=True, db_comment="Null while open")
    close_reason = models.CharField(max_length=10, choices=CloseReason.choices, blank=True, default="")

    class Meta:
        db_table = "whiteboard_connections"
        constraints = [
            models.UniqueConstraint(fields=["whiteboard", "connection_id"], name="%(app_label)s_%(class)s_unique_id"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="%(app_label)s_%(class)s_role_valid"),
            models.CheckConstraint(
                condition=models.Q(visibility__in=Visibility.values), name="%(app_label)s_%(class)s_visibility_valid"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(closed_at__isnull=True, close_reason="")
                    | models.Q(closed_at__isnull=False, close_reason__in=["disconnect", "timeout"])
                ),
                name="%(app_label)s_%(class)s_closed_has_reason",
            ),
        ]
        indexes = [
            # Heartbeat/connect/disconnect: the open connections of one participant on one whiteboard.
            models.Index(
                fields=["whiteboard", "role"],
                condition=models.Q(closed_at__isnull=True),
                name="wb_conn_open_by_participant",
            ),
            # Outage gaps (whiteboard.outages.outage_gaps): the connections closed after a moment, plus the
            # open ones (index above). A heartbeat never writes closed_at or opened_at: its updates stay HOT.
            models.Index(fields=["closed_at"], name="wb_conn_closed_at"),
            # ...and the first connection opened after a moment (written once, at connect).
            models.Index(fields=["opened_at"], name="wb_conn_opened_at"),
            # No index may hold a column a heartbeat writes (last_signal_at, expires_at, visibility):
            # PostgreSQL then rewrites the row in place (a HOT update) and touches no index. The sweep
            # (open connections past expires_at) reads the partial index above: only open rows are in it.
        ]

    def __str__(self):
        return f"{self.role} {self.connection_id}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def is_alive(self, now) -> bool:
        return self.closed_at is None and self.expires_at >= now


class BoardTool(models.TextChoices):
    PEN = "pen"
    ERASER = "eraser"


class Board(models.Model):
    """The drawing of one whiteboard: its stroke counter, its last clear, and how much each participant drew.

    One row per whiteboard, created with its first stroke. Board writes lock this row, not the
    whiteboard's (presence keeps its own lock): the sequence number and the stroke limit are decided
    here. The engagement counters are kept as the strokes arrive, so the suggestion reads two numbers
    per participant instead of every stroke.
    """

    whiteboard = models.OneToOneField(
        WhiteboardSession, on_delete=models.CASCADE, primary_key=True, related_name="board"
    )
    last_sequence = models.PositiveIntegerField(default=0, db_comment="Sequence number of the last stroke or clear")
    stroke_count = models.PositiveIntegerField(
        default=0,
        db_comment="Strokes stored for this board (undone and cleared ones included); at most BOARD_MAX_STROKES",
    )
    cleared_through = models.PositiveIntegerField(
        default=0, db_comment="Sequence number of the last clear: replay shows only strokes after it"
    )
    tutor_strokes = models.PositiveIntegerField(default=0, db_comment="Strokes the tutor began")
    student_strokes = models.PositiveIntegerField(default=0, db_comment="Strokes the student began")
    tutor_drawing_seconds = models.PositiveIntegerField(
        default=0, db_comment="Distinct server-time seconds in which the tutor's stroke points arrived"
    )
    student_drawing_seconds = models.PositiveIntegerField(
        default=0, db_comment="Distinct server-time seconds in which the student's stroke points arrived"
    )
    tutor_last_drawing_second = models.BigIntegerField(
        null=True, blank=True, db_comment="Unix second of the tutor's last counted drawing second"
    )
    student_last_drawing_second = models.BigIntegerField(
        null=True, blank=True, db_comment="Unix second of the student's last counted drawing second"
    )

    class Meta:
        db_table = "whiteboard_boards"
        db_table_comment = "The drawing of one whiteboard: counters, last clear and engagement per participant"

    def __str__(self):
        return f"Board of whiteboard #{self.pk}"


class BoardStroke(models.Model):
    """One stroke (pen or eraser) on a board: started, streamed in batches of points, ended; replayed by sequence."""

    whiteboard = models.ForeignKey(WhiteboardSession, on_delete=models.CASCADE, related_name="strokes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=10, choices=Role.choices, db_comment="The author's role in the session")
    sequence = models.PositiveIntegerField(db_comment="Server-assigned order on this board, from 1; replay order")
    tool = models.CharField(max_length=10, choices=BoardTool.choices, default=BoardTool.PEN)
    colour = models.CharField(max_length=7, default="#1f2937", db_comment="#rrggbb (ignored by the eraser)")
    width = models.PositiveSmallIntegerField(default=3, db_comment="Line width in board units (the board is 1000 wide)")
    points = models.JSONField(
        default=list, db_comment="Flat list x0, y0, x1, y1, ... in board units; at most BOARD_MAX_POINTS points"
    )
    started_at = models.DateTimeField(db_comment="Server time the stroke began")
    recorded_at = models.DateTimeField(db_comment="Server time its last batch of points arrived")
    ended_at = models.DateTimeField(null=True, blank=True, db_comment="Server time it ended; null while being drawn")
    undone_at = models.DateTimeField(
        null=True, blank=True, db_comment="Server time its author undid it; kept for the record, never replayed"
    )

    class Meta:
        db_table = "whiteboard_strokes"
        db_table_comment = "Strokes drawn on whiteboards, one row per stroke, points as JSON"
        constraints = [
            # Replay order, and the sequence the service hands out under the board lock.
            models.UniqueConstraint(fields=["whiteboard", "sequence"], name="%(app_label)s_%(class)s_unique_sequence"),
            models.CheckConstraint(
                condition=models.Q(tool__in=BoardTool.values), name="%(app_label)s_%(class)s_tool_valid"
            ),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="%(app_label)s_%(class)s_role_valid"),
            models.CheckConstraint(
                condition=models.Q(sequence__gte=1), name="%(app_label)s_%(class)s_sequence_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(width__gte=1, width__lte=50), name="%(app_label)s_%(class)s_width_range"
            ),
            models.CheckConstraint(
                condition=models.Q(colour__regex=r"^#[0-9a-f]{6}$"), name="%(app_label)s_%(class)s_colour_hex"
            ),
        ]

    def __str__(self):
        return f"Stroke {self.sequence} on whiteboard #{self.whiteboard_id}"


class BoardClear(models.Model):
    """A clear of a board by its tutor: strokes up to `sequence` are no longer replayed (they stay stored)."""

    whiteboard = models.ForeignKey(WhiteboardSession, on_delete=models.CASCADE, related_name="board_clears")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    sequence = models.PositiveIntegerField(
        db_comment="Takes a place in the board's sequence; strokes before it are cleared"
    )
    cleared_at = models.DateTimeField(db_comment="Server time of the clear")

    class Meta:
        db_table = "whiteboard_board_clears"
        db_table_comment = "Clears of whiteboards: what replay no longer shows, and who cleared it when"
        constraints = [
            models.UniqueConstraint(fields=["whiteboard", "sequence"], name="%(app_label)s_%(class)s_unique_sequence"),
        ]

    def __str__(self):
        return f"Clear {self.sequence} on whiteboard #{self.whiteboard_id}"
