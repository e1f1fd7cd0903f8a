"""Server-rendered pages for tutors, students and staff. Thin: fetch what the user may see, call services."""

from datetime import datetime, time, timedelta

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch, Q
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from attendance import checks, services
from attendance.billing import session_billing
from attendance.display import RUNNING, attendance_view, session_phase
from attendance.disputes import dispute_raise
from attendance.labels import BILLING_LABELS
from attendance.models import AttendanceStatus, TutoringSession
from attendance.rules import (
    decision_locked,
    dispute_open_until,
    dispute_refusal,
    tutor_cancel_refusal,
    tutor_change_refusal,
    tutor_schedule_refusal,
)
from attendance.scheduling import session_cancel, session_reschedule
from attendance.selectors import (
    session_for_tutor_or_staff,
    sessions_closed_without_decision,
    sessions_waiting_for_decision,
)
from attendance.session_page import session_page_context
from core.api import error_body
from core.errors import DomainError
from core.forms import CountedTextarea
from whiteboard.models import Connection, Role
from whiteboard.presence import presence_window
from whiteboard.selectors import presence_snapshot

PAST_DAYS = 30


def _sessions_with_live_presence():
    """Sessions with everything a card shows, in a constant number of queries however many there are."""
    open_connections = Connection.objects.filter(closed_at__isnull=True)
    return TutoringSession.objects.select_related(
        "tutor", "student", "whiteboard", "whiteboard__board", "attendance_marked_by"
    ).prefetch_related(Prefetch("whiteboard__connections", queryset=open_connections, to_attr="open_connections"))


def _card(session: TutoringSession, now) -> dict:
    live = []
    snapshot = None
    if session.whiteboard is not None:
        alive = {c.role for c in session.whiteboard.open_connections if c.is_alive(now)}
        live = [role for role in Role.values if role in alive]
        if session_phase(session, now=now) == RUNNING:
            # From the prefetched connections: no query per card.
            snapshot = presence_snapshot(
                whiteboard=session.whiteboard, now=now, open_connections=session.whiteboard.open_connections
            )
    return {
        "session": session,
        "view": attendance_view(session, now=now, snapshot=snapshot),
        "live": live,
        "running": session.scheduled_start <= now < session.scheduled_end,
        "ended": session.scheduled_end <= now,
        "can_join": session.whiteboard_id is not None
        and presence_window(scheduled_start=session.scheduled_start, scheduled_end=session.scheduled_end).contains(now),
    }


@login_required
def home(request):
    """Tutors and staff: the dashboard. Students: their sessions. Parents: their family page."""
    user = request.user
    # A parent who neither teaches nor attends sessions has nothing here: their page is the family one.
    if (
        not user.is_staff
        and hasattr(user, "guardian")
        and not TutoringSession.objects.filter(Q(tutor=user) | Q(student=user)).exists()
    ):
        return redirect("families:home")
    now = timezone.now()
    day_start = timezone.make_aware(datetime.combine(timezone.localdate(now), time.min))
    day_end = day_start + timedelta(days=1)
    is_tutor_view = user.is_staff or TutoringSession.objects.filter(tutor=user).exists()
    queryset = _sessions_with_live_presence().filter(
        scheduled_end__gte=now - timedelta(days=PAST_DAYS), scheduled_start__lt=now + timedelta(days=14)
    )
    if not user.is_staff:
        queryset = queryset.filter(Q(tutor=user) | Q(student=user))

    waiting, closed = set(), set()
    if is_tutor_view:
        # Decided by the marking rules' selectors, so the dashboard offers only what the tutor can still mark.
        waiting = set(sessions_waiting_for_decision(now=now, sessions=queryset).values_list("pk", flat=True))
        closed = set(sessions_closed_without_decision(now=now, sessions=queryset).values_list("pk", flat=True))

    groups = {"needs_decision": [], "closed_without_decision": [], "today": [], "upcoming": [], "past": []}
    for session in queryset.order_by("scheduled_start"):
        card = _card(session, now)
        if session.pk in waiting:
            groups["needs_decision"].append(card)
        elif session.pk in closed:
            groups["closed_without_decision"].append(card)
        elif card["running"] or day_start <= session.scheduled_start < day_end:
            groups["today"].append(card)
        elif session.scheduled_start >= day_end:
            groups["upcoming"].append(card)
        else:
            groups["past"].append(card)
    groups["past"].reverse()  # most recent first
    groups["closed_without_decision"].reverse()
    template = "attendance/dashboard.html" if is_tutor_view else "attendance/student_home.html"
    context = {
        "groups": groups,
        "now": now,
        "past_days": PAST_DAYS,
        "window_days": settings.ATTENDANCE_MARKING_WINDOW_DAYS,
    }
    return render(request, template, context)


class MarkForm(forms.Form):
    """The tutor's manual mark: both statuses and why."""

    tutor_status = forms.ChoiceField(choices=AttendanceStatus.choices, label="Tutor")
    student_status = forms.ChoiceField(choices=AttendanceStatus.choices, label="Student")
    notes = forms.CharField(
        required=False,
        max_length=2000,
        widget=CountedTextarea(attrs={"rows": 3}),
        label="Notes",
        help_text="Why, in a few words. Kept in the history.",
    )


class AcceptForm(forms.Form):
    notes = forms.CharField(required=False, max_length=2000, label="Notes")


REASON_HELP = "The student and their parents receive it by e-mail."


class _OwnIds:
    """Forms that share a page with another form with the same field names get ids of their own."""

    id_prefix = ""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", f"{self.id_prefix}_%s")
        super().__init__(*args, **kwargs)


class CancelForm(_OwnIds, forms.Form):
    id_prefix = "cancel"
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}), help_text=REASON_HELP)


class RescheduleForm(_OwnIds, forms.Form):
    """A new start and end, in the tutor's own time zone (the middleware activates it)."""

    id_prefix = "move"
    start = forms.DateTimeField(label="New start", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    end = forms.DateTimeField(label="New end", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}), help_text=REASON_HELP)


class DisputeForm(forms.Form):
    note = forms.CharField(
        max_length=2000, widget=forms.Textarea(attrs={"rows": 2}), label="Why", help_text="An admin will settle it."
    )


@login_required
def session_detail(request, session_id: int):
    session = session_for_tutor_or_staff(request.user, session_id)
    return _render_session(request, session)


def _render_session(
    request,
    session,
    *,
    mark_form=None,
    accept_form=None,
    cancel_form=None,
    move_form=None,
    dispute_form=None,
    status=200,
):
    now = timezone.now()
    mark_form = mark_form or MarkForm(
        initial={
            "tutor_status": session.tutor_attendance_status,
            "student_status": session.student_attendance_status,
        }
    )
    page = session_page_context(session, now=now)
    context = {
        **page,
        # Staff see where the decision disagrees with the evidence (attendance/reconciliation.py).
        "flags": checks.session_flags(session, now=now, suggestion=page["suggestion"], outages=page["outages"])
        if request.user.is_staff
        else (),
        "mark_form": mark_form,
        "accept_form": accept_form or AcceptForm(),
        # Why this user may not mark now (None: the forms are offered); the service applies the same rule.
        "refusal": None if request.user.is_staff else tutor_change_refusal(session, now=now),
        **_schedule_and_dispute_context(request.user, session, now=now),
        "cancel_form": cancel_form or CancelForm(),
        "move_form": move_form
        or RescheduleForm(
            initial={
                "start": timezone.localtime(session.scheduled_start).strftime("%Y-%m-%dT%H:%M"),
                "end": timezone.localtime(session.scheduled_end).strftime("%Y-%m-%dT%H:%M"),
            }
        ),
        "dispute_form": dispute_form or DisputeForm(),
    }
    return render(request, "attendance/session_detail.html", context, status=status)


def _schedule_and_dispute_context(user, session, *, now) -> dict:
    """What the page offers about billing, cancelling, moving and contesting: by the services' own rules."""
    billing = session_billing(session, now=now)
    is_tutor = user.pk == session.tutor_id
    open_dispute = session.disputes.filter(settled_at__isnull=True).select_related("raised_by").first()
    return {
        "billing": billing,
        "billing_label": billing and BILLING_LABELS[billing.outcome],
        "can_cancel": is_tutor and tutor_cancel_refusal(session, now=now) is None,
        "can_move": is_tutor and tutor_schedule_refusal(session, now=now) is None,
        "can_dispute": is_tutor
        and dispute_refusal(session, by_id=user.pk, now=now, open_dispute=open_dispute is not None) is None,
        "open_dispute": open_dispute,
        "dispute_open_until": dispute_open_until(session),
        "locked": decision_locked(session, now=now),
    }


def _session_form_post(request, session_id: int, form_class, form_kwarg: str, act, done: str):
    """The tutor's POST doors (cancel, move, contest): validate, call the service, redirect; a refusal is a form error."""
    session = session_for_tutor_or_staff(request.user, session_id)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            act(session, form.cleaned_data)
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, done)
            return redirect("attendance:session", session.pk)
    return _render_session(request, session, status=400, **{form_kwarg: form})


@require_POST
@login_required
def session_cancel_view(request, session_id: int):
    return _session_form_post(
        request,
        session_id,
        CancelForm,
        "cancel_form",
        lambda s, data: session_cancel(session=s, by=request.user, reason=data["reason"]),
        "Session cancelled. The student and their parents have been told.",
    )


@require_POST
@login_required
def session_move_view(request, session_id: int):
    return _session_form_post(
        request,
        session_id,
        RescheduleForm,
        "move_form",
        lambda s, data: session_reschedule(
            session=s, by=request.user, start=data["start"], end=data["end"], reason=data["reason"]
        ),
        "Session moved. The student and their parents have been told.",
    )


@require_POST
@login_required
def session_dispute_view(request, session_id: int):
    return _session_form_post(
        request,
        session_id,
        DisputeForm,
        "dispute_form",
        lambda s, data: dispute_raise(session=s, by=request.user, note=data["note"]),
        "Decision contested. An admin will settle it.",
    )


@login_required
def live_fragments(request):
    """The live pages' fallback while their socket is down: the messages `ws/live/` would push, as JSON.

    `?view=session|cards&sessions=1,2`; the same access rules as the pages (404 for any session not theirs).
    """
    from attendance.live import MAX_WATCHED, VIEWS, live_messages

    view = request.GET.get("view", "")
    try:
        ids = [int(part) for part in request.GET.get("sessions", "").split(",") if part]
    except ValueError:
        ids = None
    if view not in VIEWS or not ids or len(ids) > MAX_WATCHED:
        return JsonResponse(error_body("invalid", "Give view=session|cards and sessions=<ids>."), status=400)
    messages_ = live_messages(user=request.user, view=view, session_ids=ids)
    if messages_ is None:
        return JsonResponse(error_body("not_found", "No such session."), status=404)
    # The server's time, for the page's "refreshed at" stamp: the browser's clock is not read.
    return JsonResponse({"messages": messages_, "server_time": timezone.now().isoformat()})


@require_POST
@login_required
def session_mark(request, session_id: int):
    session = session_for_tutor_or_staff(request.user, session_id)
    form = MarkForm(request.POST)
    if form.is_valid():
        try:
            services.attendance_mark_by_hand(
                session=session,
                by=request.user,
                tutor_status=form.cleaned_data["tutor_status"],
                student_status=form.cleaned_data["student_status"],
                notes=form.cleaned_data["notes"],
            )
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Attendance saved.")
            return redirect("attendance:session", session.pk)
    return _render_session(request, session, mark_form=form, status=400)


@require_POST
@login_required
def session_accept(request, session_id: int):
    session = session_for_tutor_or_staff(request.user, session_id)
    form = AcceptForm(request.POST)
    if form.is_valid():
        try:
            services.attendance_apply_suggestion(session=session, by=request.user, notes=form.cleaned_data["notes"])
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Suggestion accepted.")
            return redirect("attendance:session", session.pk)
    return _render_session(request, session, accept_form=form, status=400)
