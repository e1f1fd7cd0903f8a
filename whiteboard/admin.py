from django.contrib import admin
from django.db.models import Prefetch
from django.template.defaultfilters import date as format_date
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from whiteboard.board import board_engagement
from whiteboard.models import PRESENCE_COLUMNS, Connection, WhiteboardSession
from whiteboard.presence import parse_time
from whiteboard.selectors import presence_snapshot


def _local(moment) -> str:
    """A moment in the admin's own zone, on the 24-hour clock; the stored values are UTC."""
    if moment is None:
        return "—"
    if isinstance(moment, str):
        moment = parse_time(moment)
    return format_date(timezone.localtime(moment), "D j M Y, H:i:s T")


class ConnectionInline(admin.TabularInline):
    model = Connection
    extra = 0
    can_delete = False
    fields = ["role", "user", "connection_id", "opened_at", "last_signal_at", "visibility", "closed_at", "close_reason"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WhiteboardSession)
class WhiteboardSessionAdmin(admin.ModelAdmin):
    """Presence is evidence: shown, never edited by hand."""

    list_display = ["id", "tutoring_session", "tutor_active_seconds", "student_active_seconds", "created_at"]
    inlines = [ConnectionInline]
    exclude = ["connection_logs", "tutor_presence_spans", "student_presence_spans", "presence_kept"]
    readonly_fields = [
        "live_presence",
        "board",
        "tutor_connected_at",
        "tutor_disconnected_at",
        "tutor_last_activity_at",
        "tutor_total_active_seconds",
        "tutor_hidden_seconds",
        "student_connected_at",
        "student_disconnected_at",
        "student_last_activity_at",
        "student_total_active_seconds",
        "student_hidden_seconds",
        "created_at",
        "detail_removed",
        "presence_spans_table",
        "connection_log_table",
    ]

    def get_queryset(self, request):
        open_connections = Connection.objects.filter(closed_at__isnull=True)
        return (
            super()
            .get_queryset(request)
            .select_related("tutoring_session", "board")
            .prefetch_related(Prefetch("connections", queryset=open_connections, to_attr="open_connection_list"))
        )

    @staticmethod
    def _live(obj) -> dict:
        """Presence as of now. The stored columns lag behind a live session: steady heartbeats touch only
        their connection row, and the whiteboard row catches up at the next connect, disconnect,
        visibility change or sweep (docs/presence-fast-path.md). Worked out once per row and page."""
        if not hasattr(obj, "live_snapshot"):
            obj.live_snapshot = presence_snapshot(whiteboard=obj, open_connections=obj.open_connection_list)
        return obj.live_snapshot

    @admin.display(description="Tutor active s (live)")
    def tutor_active_seconds(self, obj):
        return self._live(obj)["tutor"].total_active_seconds

    @admin.display(description="Student active s (live)")
    def student_active_seconds(self, obj):
        return self._live(obj)["student"].total_active_seconds

    @admin.display(description="Live presence")
    def live_presence(self, obj):
        rows = [
            (
                role,
                "connected" if status.connected else "not connected",
                _local(status.last_activity_at),
                status.total_active_seconds,
                status.hidden_seconds,
            )
            for role, status in self._live(obj).items()
        ]
        return format_html_join("\n", "<div>{}: {}, last activity {}, {} s active ({} s hidden)</div>", rows)

    @admin.display(description="Board")
    def board(self, obj):
        """Engagement per participant, and the board itself, read-only (watching is not presence)."""
        engagement = board_engagement(whiteboard=obj)
        rows = format_html_join(
            "\n",
            "<div>{}: drew {} s in {} stroke(s)</div>",
            ((r, e.drawing_seconds, e.strokes) for r, e in engagement.items()),
        )
        link = format_html('<a href="{}">View the board (read-only)</a>', reverse("whiteboard:board", args=[obj.pk]))
        return format_html("{}<div>{}</div>", rows, link)

    def has_change_permission(self, request, obj=None):
        return request.method in ("GET", "HEAD") and super().has_view_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Raw detail removed")
    def detail_removed(self, obj):
        rows = [
            (role, _local(kept["removed_at"]), kept["because"], kept["reconnects"], kept["timeouts"])
            for role, kept in (obj.presence_kept or {}).items()
            if role in PRESENCE_COLUMNS
        ]
        return format_html_join("\n", "<div>{}: {} ({}); kept: {} reconnect(s), {} timeout(s)</div>", rows) or "—"

    @admin.display(description="Presence spans")
    def presence_spans_table(self, obj):
        rows = [
            (role, _local(span["start"]), _local(span["end"]), len(span["hidden"]))
            for role, columns in PRESENCE_COLUMNS.items()
            for span in getattr(obj, columns.presence_spans)
        ]
        return format_html_join("\n", "<div>{}: {} → {} ({} hidden interval(s))</div>", rows) or "—"

    @admin.display(description="Connection log")
    def connection_log_table(self, obj):
        rows = [(_local(e["at"]), e["event"], e["role"], e["connection_id"]) for e in obj.connection_logs]
        return format_html_join("\n", "<div>{} — {} — {} — {}</div>", rows) or "—"
