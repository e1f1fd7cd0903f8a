"""Parents' pages: their children's sessions, and absence reports ahead of time.

Thin: fetch only what this parent may see (404 for anything else, and for anyone who is not
a parent), call the service, redirect after POST.
"""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.defaultfilters import date as format_date
from django.utils import timezone
from django.views.decorators.http import require_POST

from attendance.labels import SOURCE_LABELS
from attendance.models import AttendanceSource, TutoringSession
from attendance.rules import parent_change_refusal
from core.errors import DomainError
from families import selectors, services
from families.forms import AbsenceReportForm, NotificationSettingsForm, WithdrawForm
from families.models import Guardian

PAST_DAYS = 30
UPCOMING_DAYS = 56


def _guardian_or_404(user) -> Guardian:
    guardian = selectors.guardian_of(user)
    if guardian is None:
        raise Http404("No such page.")
    return guardian


def _session_for_parent(guardian: Guardian, session_id: int) -> TutoringSession:
    """The session if it is one of this parent's children's; 404 for every other session."""
    session = selectors.guardian_sessions(guardian).filter(pk=session_id).first()
    if session is None:
        raise Http404("No such session.")
    return session


def _name(user) -> str:
    return user.get_full_name() or user.get_username()


def _card(session: TutoringSession, now) -> dict:
    reported = session.attendance_source == AttendanceSource.PARENT_REPORTED
    # What the parent may do, by the same rules the service applies.
    refusal = parent_change_refusal(
        session, source=AttendanceSource.SYSTEM_DEFAULT if reported else AttendanceSource.PARENT_REPORTED, now=now
    )
    return {
        "session": session,
        "source_label": SOURCE_LABELS[session.attendance_source],
        "ended": session.scheduled_end <= now,
        "running": session.scheduled_start <= now < session.scheduled_end,
        # Not started and not decided: there is no attendance to show yet.
        "scheduled": now < session.scheduled_start and session.attendance_source == AttendanceSource.SYSTEM_DEFAULT,
        "can_report": refusal is None and not reported,
        "can_withdraw": refusal is None and reported,
        "refusal": refusal,
    }


@login_required
def family_home(request):
    """Each child's sessions: coming up (with absence reports) and the past few weeks."""
    guardian = _guardian_or_404(request.user)
    now = timezone.now()
    children = guardian.students.order_by("first_name", "last_name", "username")
    families = {child.pk: {"child": child, "upcoming": [], "past": []} for child in children}
    sessions = selectors.guardian_sessions(guardian).filter(
        scheduled_end__gte=now - timedelta(days=PAST_DAYS), scheduled_start__lt=now + timedelta(days=UPCOMING_DAYS)
    )
    for session in sessions.order_by("scheduled_start"):
        card = _card(session, now)
        families[session.student_id]["past" if card["ended"] else "upcoming"].append(card)
    for family in families.values():
        family["past"].reverse()  # most recent first
    context = {
        "families": list(families.values()),
        "settings_form": NotificationSettingsForm(initial={"notify_absent_or_late": guardian.notify_absent_or_late}),
        "past_days": PAST_DAYS,
        "upcoming_weeks": UPCOMING_DAYS // 7,
    }
    return render(request, "families/home.html", context)


@login_required
def session_detail(request, session_id: int):
    guardian = _guardian_or_404(request.user)
    return _render_session(request, _session_for_parent(guardian, session_id))


def _render_session(request, session, *, report_form=None, withdraw_form=None, status=200):
    card = _card(session, timezone.now())
    report = None
    if session.attendance_source == AttendanceSource.PARENT_REPORTED:
        report = session.attendance_changes.select_related("actor").order_by("-id").first()
    context = {
        "card": card,
        "session": session,
        "report": report,
        "report_form": report_form or AbsenceReportForm(),
        "withdraw_form": withdraw_form or WithdrawForm(),
    }
    return render(request, "families/session.html", context, status=status)


@require_POST
@login_required
def absence_report(request, session_id: int):
    guardian = _guardian_or_404(request.user)
    session = _session_for_parent(guardian, session_id)
    form = AbsenceReportForm(request.POST)
    if form.is_valid():
        try:
            services.absence_report(session=session, parent=request.user, reason=form.cleaned_data["reason"])
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(
                request,
                f"Absence reported: {_name(session.student)} is excused from "
                f"{session.title or 'the session'} on {format_date(timezone.localtime(session.scheduled_start), 'D j M, H:i')}. "
                f"{_name(session.tutor)} has been told.",
            )
            return redirect("families:home")
    return _render_session(request, session, report_form=form, status=400)


@require_POST
@login_required
def absence_withdraw(request, session_id: int):
    guardian = _guardian_or_404(request.user)
    session = _session_for_parent(guardian, session_id)
    form = WithdrawForm(request.POST)
    try:
        services.absence_withdraw(session=session, parent=request.user)
    except DomainError as error:
        form.add_error(None, error.message)
        return _render_session(request, session, withdraw_form=form, status=400)
    messages.success(
        request,
        f"Report withdrawn: {_name(session.student)} is expected at {session.title or 'the session'} again. "
        f"{_name(session.tutor)} has been told.",
    )
    return redirect("families:home")


@require_POST
@login_required
def notification_settings(request):
    guardian = _guardian_or_404(request.user)
    form = NotificationSettingsForm(request.POST)
    form.is_valid()  # a checkbox: always valid, absent means off
    services.guardian_notifications_set(
        guardian=guardian, notify_absent_or_late=form.cleaned_data["notify_absent_or_late"]
    )
    if guardian.notify_absent_or_late:
        messages.success(request, "You will get an e-mail when your child is marked absent or late.")
    else:
        messages.success(request, "You will no longer get e-mails when your child is marked absent or late.")
    return redirect("families:home")
