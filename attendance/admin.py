"""Django admin: where admins look at sessions and override attendance, through the same services as the API.

Long because: the session admin carries the override and bulk actions, the whiteboard tick and the
presence evidence (timeline, live state) that admins decide from, and issue 19 added the history's
decision filter, calibration and streak admins; all are thin doors onto services and selectors
(disputes, patterns and erasures on request have admin modules of their own).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from attendance.billing import session_billing
from attendance.display import live_state
from attendance.labels import BILLING_LABELS
from attendance.models import (
    ATTENDANCE_FIELDS,
    AttendanceChange,
    AttendanceStatus,
    DecisionAction,
    TutoringSession,
    decision_action,
)
from attendance.retention import presence_removals, spans_still_held
from attendance.selectors import sessions_closed_without_decision, sessions_waiting_for_decision
from attendance.services import (
    attendance_apply_suggestion,
    attendance_mark_by_hand,
    attendance_suggest,
    session_outages,
    session_save,
)
from attendance.timeline import build_timeline
from core.admin import ReadOnlyAdminMixin
from core.errors import DomainError
from core.forms import CountedTextarea
from whiteboard.models import WhiteboardSession
from whiteboard.presence import parse_time
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
    notes = forms.CharField(widget=CountedTextarea(attrs={"rows": 3}), label="Why (required)", max_length=2000)

    def clean(self):
        data = super().clean()
        if not data.get("tutor_status") and not data.get("student_status"):
            raise forms.ValidationError("Choose at least one status to set.")
        return data


class BulkNoteForm(forms.Form):
    notes = forms.CharField(widget=CountedTextarea(attrs={"rows": 3}), label="Why (required)", max_length=2000)


class TutoringSessionForm(forms.ModelForm):
    """Scheduling a session: its whiteboard is made with it (ticked by default), no raw id needed."""

    with_whiteboard = forms.BooleanField(
        required=False,
        initial=True,
        label="Use a whiteboard",
        help_text="Creates the session's whiteboard, where presence is recorded. Untick for in-person sessions.",
    )

    class Meta:
        model = TutoringSession
        fields = ["title", "tutor", "student", "scheduled_start", "scheduled_end"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:  # an existing session without one: adding it is a deliberate tick
            self.fields["with_whiteboard"].initial = False
            self.fields["with_whiteboard"].help_text = "Tick to give this session a whiteboard from now on."


def evidence_context(session: TutoringSession, *, now=None) -> dict:
    """What an admin overrides against: presence (times in the admin's zone), timeline and suggestion."""
    now = now or timezone.now()
    context = {"session": session, "now": now, "started": now >= session.scheduled_start, "presence": [], "log": []}
    outages = session_outages(session, now=now)
    context["suggestion"] = attendance_suggest(session=session, now=now, outages=outages)
    if session.whiteboard is not None:
        snapshot = presence_snapshot(whiteboard=session.whiteboard, now=now)
        for role, status in snapshot.items():
            state = live_state(role, status)
            context["presence"].append({"role": role, "status": status, "tone": state.tone, "state": state.text})
        context["removals"] = presence_removals(whiteboard=session.whiteboard)
        if lanes := spans_still_held(snapshot):  # a participant whose detail was removed has no lane
            context["timeline"] = build_timeline(
                scheduled_start=session.scheduled_start,
                scheduled_end=session.scheduled_end,
                now=now,
                spans_by_label=lanes,
                unknown=[(gap.start, gap.end) for gap in outages],
            )
        context["log"] = [
            {
                "at": parse_time(entry["at"]),
                "role": entry["role"],
                "event": entry["event"],
                "visibility": entry.get("visibility"),
                "connection": str(entry["connection_id"])[:8],
            }
            for entry in session.whiteboard.connection_logs
        ]
    return context


class AttendanceChangeInline(admin.TabularInline):
    """History, read-only: it can be read here, never edited or deleted."""

    model = AttendanceChange
    extra = 0
    can_delete = False
    fields = [
        "changed_at",
        "actor",
        "event",
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
    form = TutoringSessionForm
    autocomplete_fields = ["tutor", "student"]
    inlines = [AttendanceChangeInline]
    actions = ["apply_suggestion_action", "override_action"]
    # Attendance is changed only through the override form, which records who, when and why.
    readonly_fields = [
        "override_link",
        *ATTENDANCE_FIELDS,
        "billing",
        "finalize_checked_at",
        "updated_at",
        "presence",
        "whiteboard_link",
    ]
    fieldsets = [
        (None, {"fields": ["title", "tutor", "student", "scheduled_start", "scheduled_end", "with_whiteboard"]}),
        (
            "Attendance",
            {"fields": ["override_link", *ATTENDANCE_FIELDS, "billing", "finalize_checked_at", "updated_at"]},
        ),
        ("Whiteboard presence (evidence, read-only)", {"fields": ["whiteboard_link", "presence"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        if obj is None:  # adding: only the schedule and the whiteboard tick; attendance starts at its defaults
            return [
                (None, {"fields": ["title", "tutor", "student", "scheduled_start", "scheduled_end", "with_whiteboard"]})
            ]
        if obj.whiteboard_id is not None:  # it has one: nothing to tick
            first = (None, {"fields": ["title", "tutor", "student", "scheduled_start", "scheduled_end"]})
            return [first, *self.fieldsets[1:]]
        return self.fieldsets

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []  # a new session has no history yet

    def save_model(self, request, obj, form, change):
        if form.cleaned_data.get("with_whiteboard") and obj.whiteboard_id is None:
            obj.whiteboard = WhiteboardSession.objects.create()
        # Through the one write, so the edit (title, times, people) counts as a change for syncs.
        session_save(session=obj)

    @admin.display(description="Whiteboard")
    def whiteboard_link(self, obj):
        if obj.whiteboard_id is None:
            return "None (in person or elsewhere)"
        url = reverse("admin:whiteboard_whiteboardsession_change", args=[obj.whiteboard_id])
        return format_html('<a href="{}">Whiteboard #{}</a>', url, obj.whiteboard_id)

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

    @admin.display(description="Billing outcome")
    def billing(self, obj):
        if obj.pk is None:
            return "—"
        billing = session_billing(obj, now=timezone.now())
        if billing is None:
            return "Not yet: the session has not ended and nothing is decided."
        flags = f" ({', '.join(billing.flags)})" if billing.flags else ""
        return f"{BILLING_LABELS[billing.outcome]}{flags}{' · chargeable' if billing.chargeable else ''}"

    @admin.display(description="Presence")
    def presence(self, obj):
        if obj.pk is None:
            return "—"
        return render_to_string("admin/attendance/_evidence.html", evidence_context(obj))

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
            **evidence_context(session),
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
class AttendanceChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
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


# Calibration fits and attendance alerts (issue 19), and contested decisions, have their own admin
# modules; importing them registers them.
from attendance import dispute_admin, erasure_admin, pattern_admin  # noqa: E402, F401
