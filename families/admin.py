"""Django admin: where the office sets up parents and links them to their children."""

from django.contrib import admin, messages
from django.db import transaction

from core.admin import ReadOnlyAdminMixin
from families.models import Guardian, GuardianStudent, SentNotification
from families.services import notification_resend
from families.tasks import notifications_queue


class GuardianStudentInline(admin.TabularInline):
    model = GuardianStudent
    extra = 1
    autocomplete_fields = ["student"]
    fields = ["student", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Guardian)
class GuardianAdmin(admin.ModelAdmin):
    """A parent: a user account, their children, and whether they want e-mails."""

    list_display = ["__str__", "user", "children", "notify_absent_or_late", "created_at"]
    list_filter = ["notify_absent_or_late"]
    search_fields = [
        "user__username",
        "user__first_name",
        "user__last_name",
        "user__email",
        "links__student__username",
        "links__student__first_name",
        "links__student__last_name",
    ]
    autocomplete_fields = ["user"]
    fields = ["user", "notify_absent_or_late", "created_at"]
    readonly_fields = ["created_at"]
    inlines = [GuardianStudentInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user").prefetch_related("students")

    def get_readonly_fields(self, request, obj=None):
        # The account a parent record belongs to is fixed once made (it is the primary key).
        return [*self.readonly_fields, "user"] if obj else self.readonly_fields

    @admin.display(description="Children")
    def children(self, obj):
        return ", ".join(s.get_full_name() or s.get_username() for s in obj.students.all()) or "—"


@admin.register(SentNotification)
class SentNotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """What was e-mailed to whom, and what is waiting or failed: read-only, with "send again"."""

    list_display = ["created_at", "kind", "email", "subject", "status", "attempts", "sent_at", "last_error_short"]
    list_filter = ["status", "kind", "created_at"]
    search_fields = ["key", "email", "subject", "recipient__username", "message_id"]
    list_select_related = ["recipient"]
    actions = ["send_again"]
    exclude = ["body_html"]

    @admin.display(description="Last error")
    def last_error_short(self, obj):
        return obj.last_error[:80] or "—"

    def has_resend_permission(self, request):
        # Rows are never edited by hand, but who may change them may queue them again.
        return request.user.has_perm("families.change_sentnotification")

    @admin.action(description="Send again (failed or stuck ones)", permissions=["resend"])
    def send_again(self, request, queryset):
        queued = [n for n in queryset if notification_resend(notification=n)]
        transaction.on_commit(lambda: notifications_queue(queued))
        if queued:
            self.message_user(request, f"Queued {len(queued)} e-mail(s) again.", messages.SUCCESS)
        if skipped := len(queryset) - len(queued):
            self.message_user(request, f"{skipped} e-mail(s) were sent already; nothing to do.", messages.WARNING)
