"""Django admin for what issue 19 measures: calibration fits, attendance alerts (streaks), a person's open alerts.

Registered by `attendance.admin` importing this module; kept apart so each admin module stays short.
"""

from django.contrib import admin
from django.contrib.auth import get_user_model

from attendance.models import AttendanceStreak, SuggestionCalibration


@admin.register(SuggestionCalibration)
class SuggestionCalibrationAdmin(admin.ModelAdmin):
    """Fits made by `manage.py calibrate_suggestions`: read-only, the latest per role is in force."""

    list_display = ["fitted_at", "role", "sample_size", "fitted", "brier_before", "brier_after"]
    list_filter = ["role", "fitted"]
    readonly_fields = [f.name for f in SuggestionCalibration._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AttendanceStreak)
class AttendanceStreakAdmin(admin.ModelAdmin):
    list_display = ["person", "kind", "length", "first_session", "last_session", "opened_at", "closed_at"]
    list_filter = ["kind", ("closed_at", admin.EmptyFieldListFilter)]
    search_fields = ["person__username", "person__first_name", "person__last_name"]
    list_select_related = ["person", "first_session", "last_session"]
    readonly_fields = [f.name for f in AttendanceStreak._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OpenStreakInline(admin.TabularInline):
    """On the person's page: their open alerts (runs of absences, lateness, no-shows)."""

    model = AttendanceStreak
    fk_name = "person"
    extra = 0
    can_delete = False
    verbose_name = "open attendance alert"
    verbose_name_plural = "Open attendance alerts"
    fields = ["kind", "length", "first_session", "last_session", "opened_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super().get_queryset(request).filter(closed_at__isnull=True).select_related("first_session", "last_session")
        )

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# The user admin is accounts' (registered before this app's admin loads); the person's open
# alerts are added to it here, so accounts never imports attendance.
_User = get_user_model()
_BaseUserAdmin = type(admin.site.get_model_admin(_User))
admin.site.unregister(_User)


@admin.register(_User)
class UserWithStreaksAdmin(_BaseUserAdmin):
    inlines = [*_BaseUserAdmin.inlines, OpenStreakInline]
