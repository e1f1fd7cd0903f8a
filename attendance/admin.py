"""Django admin: where admins look at sessions and override attendance, through the same services as the API."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from attendance.models import (
    ATTENDANCE_FIELDS,
    AttendanceChange,
    AttendanceStatus,
    AttendanceStreak,
    DecisionAction,
    SuggestionCalibration,
    TutoringSession,
    decision_action,
)
from attendance.selectors import sessions_closed_without_decision, sessions_waiting_for_decision
from attendance.services import attendance_apply_suggestion, attendance_mark_by_hand
from core.errors import DomainError
from whiteboard.selectors import presence_snapshot


def _decision_label(change: AttendanceChange) -> str:
    """What was done with the suggestion; for rows from before it was recorded, derived and said so."""
    action = decision_action(
        action=change.action,
        source=change.source,
        suggestion=change.suggestion,
        new_tutor_status=change.new_tutor_status,
        new_student_status=change.new_student_status,
    )
    label = DecisionAction(action).label
    return label if change.action else f"{label} (derived)"


KEEP = ""
STATUS_CHOICES = [(KEEP, "— keep as it is —"), *AttendanceStatus.choices]


class OverrideForm(forms.Form):
    """An admin's override: statuses to set and the required reason."""

    tutor_status = forms.ChoiceField(choices=STATUS_CHOICES, required=False, label="Tutor attendance")
    student_status = forms.ChoiceField(choices=STATUS_CHOICES, required=False, label="Student attendance")
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Why (required)", max_length=2000)

    def clean(self):
        data = super().clean()
        if not data.get("tutor_status") and not data.get("student_status"):
            raise forms.ValidationError("Choose at least one status to set.")
        return data


class BulkNoteForm(forms.Form):
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Why (required)", max_length=2000)


class AttendanceChangeInline(admin.TabularInline):
    """History, read-only: it can be read here, never edited or deleted."""

    model = AttendanceChange
    extra = 0
    can_delete = False
    fields = [
        "changed_at",
        "actor",
        "source",
        "old_tutor_status",
        "new_tutor_status",
        "old_student_status",
        "new_student_status",
        "decision",
        "notes",
    ]
    readonly_fields = fields
    ordering = ["id"]

    @admin.display(description="With the suggestion")
    def decision(self, obj):
        return _decision_label(obj)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class DecisionFilter(admin.SimpleListFilter):
    """Ended sessions nobody decided: still within the tutor's marking window, or closed without a decision."""

    title = "decision"
    parameter_name = "decision"

    def lookups(self, request, model_admin):
        return [("waiting", "Waiting for the tutor"), ("closed", "Closed without a decision")]

    def queryset(self, request, queryset):
        selector = {"waiting": sessions_waiting_for_decision, "closed": sessions_closed_without_decision}.get(
            self.value()
        )
        return queryset if selector is None else selector(now=timezone.now(), sessions=queryset)


@admin.register(TutoringSession)
class TutoringSessionAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "title",
        "tutor",
        "student",
        "scheduled_start",
        *(name for name in ATTENDANCE_FIELDS if name != "attendance_notes"),
    ]
    list_select_related = ["tutor", "student", "attendance_marked_by"]
    list_filter = [
        DecisionFilter,
        "attendance_source",
        "student_attendance_status",
        "tutor_attendance_status",
        "scheduled_start",
        ("tutor", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = [
        "title",
        "tutor__username",
        "tutor__first_name",
        "tutor__last_name",
        "student__username",
        "student__first_name",
        "student__last_name",
    ]
    date_hierarchy = "scheduled_start"
    autocomplete_fields = ["tutor", "student"]
    raw_id_fields = ["whiteboard"]
    inlines = [AttendanceChangeInline]
    actions = ["apply_suggestion_action", "override_action"]
    # Attendance is changed only through the override form, which records who, when and why.
    readonly_fields = ["override_link", *ATTENDANCE_FIELDS, "finalize_checked_at", "presence"]
    fieldsets = [
        (None, {"fields": ["title", "tutor", "student", "scheduled_start", "scheduled_end", "whiteboard"]}),
        (
            "Attendance",
            {"fields": ["override_link", *ATTENDANCE_FIELDS, "finalize_checked_at"]},
        ),
        ("Whiteboard presence (evidence, read-only)", {"fields": ["presence"]}),
    ]

    def get_urls(self):
        custom = [
            path(
                "<int:pk>/override/",
                self.admin_site.admin_view(self.override_view),
                name="attendance_tutoringsession_override",
            )
        ]
        return custom + super().get_urls()

    @admin.display(description="Override")
    def override_link(self, obj):
        if obj.pk is None:
            return "—"
        url = reverse("admin:attendance_tutoringsession_override", args=[obj.pk])
        return format_html('<a class="button" href="{}">Override attendance…</a>', url)

    @admin.display(description="Presence")
    def presence(self, obj):
        if obj.whiteboard is None:
            return "No whiteboard: an in-person or other session."
        snapshot = presence_snapshot(whiteboard=obj.whiteboard)
        rows = []
        for role, status in snapshot.items():
            rows.append(
                (
                    role,
                    "connected" if status.connected else "not connected",
                    status.connected_at or "—",
                    status.last_activity_at or "—",
                    status.total_active_seconds // 60,
                    status.hidden_seconds // 60,
                    status.reconnects,
                )
            )
        summary = format_html_join(
            "", "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{} min</td><td>{} min</td><td>{}</td></tr>", rows
        )
        spans = format_html_join(
            "",
            "<li>{}: {} → {}</li>",
            ((role, span["start"], span["end"]) for role, s in snapshot.items() for span in s.spans),
        )
        log = format_html_join(
            "",
            "<li>{} — {} {} (connection {})</li>",
            ((e["at"], e["role"], e["event"], e["connection_id"][:8]) for e in obj.whiteboard.connection_logs),
        )
        return format_html(
            "<table><tr><th></th><th>now</th><th>first joined</th><th>last seen</th><th>active</th>"
            "<th>hidden</th><th>reconnects</th></tr>{}</table><p><b>Presence spans</b></p><ul>{}</ul>"
            "<p><b>Connection log</b></p><ul>{}</ul>",
            summary,
            spans or "—",
            log or "—",
        )

    def override_view(self, request, pk):
        session = get_object_or_404(TutoringSession, pk=pk)
        if not self.has_change_permission(request, session):
            raise PermissionDenied
        form = OverrideForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                attendance_mark_by_hand(
                    session=session,
                    by=request.user,
                    tutor_status=form.cleaned_data["tutor_status"] or None,
                    student_status=form.cleaned_data["student_status"] or None,
                    notes=form.cleaned_data["notes"],
                )
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                self.message_user(request, f"Attendance of {session} overridden.", messages.SUCCESS)
                return redirect("admin:attendance_tutoringsession_change", session.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": session,
            "title": f"Override attendance: {session}",
            "form": form,
        }
        return TemplateResponse(request, "admin/attendance/override.html", context)

    def _bulk(self, request, queryset, *, title, form_class, apply):
        """An intermediate page asks for the note (and statuses), then applies the service to each session."""
        form = form_class(request.POST if "confirm" in request.POST else None)
        if "confirm" in request.POST and form.is_valid():
            done, failed = 0, []
            for session in queryset:
                try:
                    apply(session, form.cleaned_data)
                    done += 1
                except DomainError as error:
                    failed.append(f"#{session.pk}: {error.message}")
            self.message_user(request, f"{title}: {done} session(s) changed.", messages.SUCCESS)
            for failure in failed:
                self.message_user(request, failure, messages.ERROR)
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "form": form,
            "queryset": queryset,
            "action": request.POST.get("action"),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/attendance/bulk_action.html", context)

    @admin.action(description="Apply the whiteboard suggestion (admin override)", permissions=["change"])
    def apply_suggestion_action(self, request, queryset):
        return self._bulk(
            request,
            queryset,
            title="Apply the whiteboard suggestion",
            form_class=BulkNoteForm,
            apply=lambda s, data: attendance_apply_suggestion(session=s, by=request.user, notes=data["notes"]),
        )

    @admin.action(description="Override attendance of selected sessions", permissions=["change"])
    def override_action(self, request, queryset):
        return self._bulk(
            request,
            queryset,
            title="Override attendance",
            form_class=OverrideForm,
            apply=lambda s, data: attendance_mark_by_hand(
                session=s,
                by=request.user,
                tutor_status=data["tutor_status"] or None,
                student_status=data["student_status"] or None,
                notes=data["notes"],
            ),
        )


@admin.register(AttendanceChange)
class AttendanceChangeAdmin(admin.ModelAdmin):
    """The audit trail: searchable, never editable."""

    list_display = [
        "changed_at",
        "session",
        "actor",
        "source",
        "decision",
        "old_student_status",
        "new_student_status",
        "old_tutor_status",
        "new_tutor_status",
    ]
    list_filter = ["source", "action", "changed_at"]
    search_fields = ["session__id", "actor__username", "notes"]
    list_select_related = ["session__tutor", "session__student", "actor"]

    @admin.display(description="With the suggestion")
    def decision(self, obj):
        return _decision_label(obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
