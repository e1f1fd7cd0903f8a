"""What attendance pushes to pages over WebSockets: group names, message types, the fragments.

The watcher socket (`ws/live/`, attendance/consumers.py) is for pages that only look: the session
page, the tutor's dashboard, staff views, the student's page. It never counts as presence. Its
messages are documented once, in docs/websockets.md.

Each fragment is the page's own template, rendered for the watcher (their time zone, their rights),
so a pushed update and a reload show the same thing. `GET /live/fragments?view=...&sessions=...`
answers the same messages for pages whose socket is down (they poll).
"""

from datetime import datetime

from django.db.models import Q
from django.dispatch import receiver
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import Profile, zone_or_default
from attendance.models import TutoringSession
from attendance.session_page import session_page_context
from attendance.signals import attendance_changed
from core.live import group_send
from whiteboard.signals import presence_changed

SESSION_CHANGED = "session.changed"  # channel-layer message type: LiveConsumer.session_changed
VIEWS = ("session", "cards")
MAX_WATCHED = 200


def session_group(session_id: int) -> str:
    return f"session.{session_id}"


# --- who may watch what: the pages' own rules ---------------------------------------------------------


def watchable_sessions(*, user, view: str, session_ids: list[int]) -> list[TutoringSession] | None:
    """The sessions, if `user` may watch every one of them in this view; None if any is not theirs (404)."""
    from attendance.views import _sessions_with_live_presence

    queryset = _sessions_with_live_presence().filter(pk__in=session_ids)
    if view == "session":
        if not user.is_staff:
            queryset = queryset.filter(tutor_id=user.pk)  # attendance.selectors.session_for_tutor_or_staff
    elif not user.is_staff:
        queryset = queryset.filter(Q(tutor_id=user.pk) | Q(student_id=user.pk))  # attendance.views.home
    found = list(queryset)
    return found if len(found) == len(set(session_ids)) else None


# --- rendering ---------------------------------------------------------------------------------------


def viewer_zone(user):
    name = Profile.objects.filter(user_id=user.pk).values_list("time_zone", flat=True).first()
    return zone_or_default(name or "")


def session_message(*, session: TutoringSession, user, now: datetime | None = None) -> dict:
    """The session page's live parts, rendered exactly as the page renders them."""
    now = now or timezone.now()
    context = session_page_context(session, now=now)
    context["user"] = user
    fragments = {
        name: render_to_string(f"attendance/_session_{name}.html", context)
        for name in ("current", "suggestion", "history")
    }
    if context["snapshot"] is not None:
        fragments["presence"] = render_to_string("attendance/_session_presence.html", context)
    suggestion = context["suggestion"]
    snapshot = context["snapshot"] or {}
    return {
        "type": "session",
        "session_id": session.pk,
        "fragments": fragments,
        "data": {
            "assumed": session.attendance_source == "system_default",
            "presence": {
                role: {
                    "connected": p.connected,
                    "total_active_seconds": p.total_active_seconds,
                    "hidden_seconds": p.hidden_seconds,
                    "reconnects": p.reconnects,
                }
                for role, p in snapshot.items()
            },
            "suggestion": {
                "final": suggestion.final,
                "together_seconds": suggestion.together_seconds,
                **{
                    role: {"status": p.status, "confidence": p.confidence, "reasons": list(p.reasons)}
                    for role, p in (("tutor", suggestion.tutor), ("student", suggestion.student))
                },
            },
        },
    }


def card_message(*, session: TutoringSession, user, now: datetime | None = None) -> dict:
    """A dashboard or student-page card, rendered exactly as the page renders it."""
    from attendance.views import _card

    now = now or timezone.now()
    tutor_view = user.is_staff or session.tutor_id == user.pk
    html = render_to_string(
        "attendance/_card.html", {"card": _card(session, now), "tutor_view": tutor_view, "user": user}
    )
    return {"type": "card", "session_id": session.pk, "html": html}


def live_messages(*, user, view: str, session_ids: list[int], now: datetime | None = None) -> list[dict] | None:
    """Fresh messages for every watched session (in the viewer's zone); None if one is not theirs."""
    sessions = watchable_sessions(user=user, view=view, session_ids=session_ids)
    if sessions is None:
        return None
    render = session_message if view == "session" else card_message
    with timezone.override(viewer_zone(user)):
        return [render(session=session, user=user, now=now) for session in sessions]


# --- announcing, after commit -------------------------------------------------------------------------


@receiver(presence_changed, dispatch_uid="attendance.live.presence_changed")
def push_presence_change(sender, whiteboard_id: int, **kwargs):
    for session_id in TutoringSession.objects.filter(whiteboard_id=whiteboard_id).values_list("pk", flat=True):
        group_send(session_group(session_id), {"type": SESSION_CHANGED, "session_id": session_id})


@receiver(attendance_changed, dispatch_uid="attendance.live.attendance_changed")
def push_attendance_change(sender, change, **kwargs):
    group_send(session_group(change.session_id), {"type": SESSION_CHANGED, "session_id": change.session_id})
