"""Pages of the whiteboard: the drawing surface participants open, which runs the attendance tracker."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from whiteboard.models import Role, WhiteboardSession
from whiteboard.presence import presence_window


def _get_whiteboard_for_participant(user, whiteboard_id: int) -> WhiteboardSession:
    """The whiteboard if the user is its session's tutor or student; 404 for anyone else, staff included.

    Staff follow sessions on the attendance pages; opening the whiteboard would record them as present.
    """
    queryset = WhiteboardSession.objects.select_related(
        "tutoring_session__tutor", "tutoring_session__student"
    ).of_participant(user)
    return get_object_or_404(queryset, pk=whiteboard_id)


@login_required
def whiteboard_page(request, whiteboard_id: int):
    whiteboard = _get_whiteboard_for_participant(request.user, whiteboard_id)
    session = whiteboard.tutoring_session
    role = Role.TUTOR if session.tutor_id == request.user.pk else Role.STUDENT
    other_role = Role.STUDENT if role == Role.TUTOR else Role.TUTOR
    now = timezone.now()
    window = presence_window(scheduled_start=session.scheduled_start, scheduled_end=session.scheduled_end)
    # Outside the presence window connect answers 409: the page says when the board opens and
    # does not start the tracker; before the window it reloads itself when the window opens.
    window_state = "before" if now < window.opens_at else "open" if window.contains(now) else "closed"
    return render(
        request,
        "whiteboard/page.html",
        {
            "whiteboard": whiteboard,
            "session": session,
            "role": role,
            "other_role": other_role,
            "other": session.student if role == Role.TUTOR else session.tutor,
            "window": window,
            "window_state": window_state,
            "join_window_minutes": settings.PRESENCE["JOIN_WINDOW_MINUTES"],
            # Server time only: the page waits this long, it never reads the browser's clock.
            "opens_in_seconds": max(0, int((window.opens_at - now).total_seconds()))
            if window_state == "before"
            else None,
        },
    )
