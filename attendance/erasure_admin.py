"""Django admin for erasure on request: erase one person's raw presence detail, read the records.

Registered by `attendance.admin` importing this module. The records are append-only (the model and,
on PostgreSQL, the database refuse changes); "Add" is the erasure form, which calls the service.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from attendance.models import PresenceErasure
from attendance.retention import presence_detail_erase
from core.errors import DomainError


class EraseForm(forms.Form):
    """Whose raw presence detail goes, and why: the request it answers."""

    username = forms.CharField(label="Person (username)", max_length=150)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        label="Reason (required)",
        help_text="The request this answers (who asked, when, how). Kept in the erasure record.",
    )
    confirm = forms.BooleanField(
        label="Erase now: their connections, connection log and timelines on every finished session go for good "
        "(totals, suggestions and the attendance history stay)",
    )

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        person = get_user_model().objects.filter(username=username).first()
        if person is None:
            raise forms.ValidationError("Nobody has this username.")
        return person


@admin.register(PresenceErasure)
class PresenceErasureAdmin(admin.ModelAdmin):
    """Erasures on request: each one here for good; add = erase a person's presence detail."""

    list_display = ["erased_at", "person", "erased_by", "reason", "sessions", "counts"]
    list_select_related = ["person", "erased_by"]
    search_fields = ["person__username", "erased_by__username", "reason"]
    fields = ["erased_at", "person", "erased_by", "reason", "session_ids", "counts", "key"]
    readonly_fields = fields

    @admin.display(description="Sessions")
    def sessions(self, obj):
        return len(obj.session_ids)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = EraseForm(request.POST or None, initial={"username": request.GET.get("username", "")})
        if request.method == "POST" and form.is_valid():
            try:
                record = presence_detail_erase(
                    person=form.cleaned_data["username"], by=request.user, reason=form.cleaned_data["reason"]
                )
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                self.message_user(
                    request,
                    f"{record}: {record.counts.get('sessions', 0)} session(s), "
                    f"{record.counts.get('left_open', 0)} not over yet left as they are.",
                    messages.SUCCESS,
                )
                return redirect("admin:attendance_presenceerasure_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Erase a person's presence detail",
            "form": form,
        }
        return TemplateResponse(request, "admin/attendance/erase.html", context, status=400 if form.errors else 200)
