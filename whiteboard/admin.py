from django.contrib import admin
from django.utils.html import format_html_join

from whiteboard.models import Connection, WhiteboardSession


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

    list_display = [
        "id",
        "tutoring_session",
        "tutor_total_active_seconds",
        "student_total_active_seconds",
        "created_at",
    ]
    inlines = [ConnectionInline]
    exclude = ["connection_logs", "tutor_presence_spans", "student_presence_spans"]
    readonly_fields = [
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
        "presence_spans_table",
        "connection_log_table",
    ]

    def has_change_permission(self, request, obj=None):
        return request.method in ("GET", "HEAD") and super().has_view_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Presence spans")
    def presence_spans_table(self, obj):
        rows = [
            (role, span["start"], span["end"], len(span["hidden"]))
            for role in ("tutor", "student")
            for span in getattr(obj, f"{role}_presence_spans")
        ]
        return format_html_join("\n", "<div>{}: {} → {} ({} hidden interval(s))</div>", rows) or "—"

    @admin.display(description="Connection log")
    def connection_log_table(self, obj):
        rows = [(e["at"], e["event"], e["role"], e["connection_id"]) for e in obj.connection_logs]
        return format_html_join("\n", "<div>{} — {} — {} — {}</div>", rows) or "—"
