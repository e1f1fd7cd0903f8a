"""Django admin for contested decisions: read them, settle them through the dispute service.

Registered by `attendance.admin` importing this module; kept apart so each admin module stays short.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from attendance.disputes import dispute_settle
from attendance.models import AttendanceDispute, AttendanceStatus, DisputeSettlement
from core.errors import DomainError

KEEP = ""
STATUS_CHOICES = [(KEEP, "— keep as it is —"), *AttendanceStatus.choices]


class SettleForm(forms.Form):
    """An admin settles a contested decision: keep it, or override it (statuses and the reason)."""

    settlement = forms.ChoiceField(choices=DisputeSettlement.choices, widget=forms.RadioSelect)
    tutor_status = forms.ChoiceField(choices=STATUS_CHOICES, required=False, label="Tutor attendance (override)")
    student_status = forms.ChoiceField(choices=STATUS_CHOICES, required=False, label="Student attendance (override)")
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Why (required)", max_length=2000)


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", "Open"), ("no", "Settled")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(settled_at__isnull=self.value() == "yes")
        return queryset


@admin.register(AttendanceDispute)
class AttendanceDisputeAdmin(admin.ModelAdmin):
    """Contested decisions: read here, settled through the settle form (the dispute service)."""

    list_display = ["raised_at", "session", "raised_by", "note", "settlement", "settled_at", "settled_by"]
    list_filter = [OpenFilter, "settlement"]
    list_select_related = ["session__tutor", "session__student", "raised_by", "settled_by"]
    search_fields = ["session__id", "raised_by__username", "note"]
    fields = [
        "settle_link",
        "session",
        "change",
        "raised_by",
        "raised_at",
        "note",
        "settlement",
        "settled_at",
        "settled_by",
        "settlement_note",
    ]
    readonly_fields = fields
    ordering = ["settled_at", "raised_at"]  # open ones (null) first, oldest first

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        custom = [
            path(
                "<int:pk>/settle/",
                self.admin_site.admin_view(self.settle_view),
                name="attendance_attendancedispute_settle",
            )
        ]
        return custom + super().get_urls()

    @admin.display(description="Settle")
    def settle_link(self, obj):
        if obj.pk is None or not obj.is_open:
            return "—"
        url = reverse("admin:attendance_attendancedispute_settle", args=[obj.pk])
        return format_html('<a class="button" href="{}">Settle…</a>', url)

    def settle_view(self, request, pk):
        dispute = get_object_or_404(AttendanceDispute.objects.select_related("session", "raised_by"), pk=pk)
        if not self.has_change_permission(request, dispute):
            raise PermissionDenied
        form = SettleForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                dispute_settle(
                    dispute=dispute,
                    by=request.user,
                    settlement=form.cleaned_data["settlement"],
                    note=form.cleaned_data["note"],
                    tutor_status=form.cleaned_data["tutor_status"] or None,
                    student_status=form.cleaned_data["student_status"] or None,
                )
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                self.message_user(request, f"{dispute} settled.", messages.SUCCESS)
                return redirect("admin:attendance_attendancedispute_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": dispute,
            "title": f"Settle: {dispute}",
            "form": form,
        }
        return TemplateResponse(request, "admin/attendance/settle.html", context)
