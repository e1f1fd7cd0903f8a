"""Pages of the whiteboard: the drawing surface participants open, which runs the attendance tracker."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

from whiteboard.models import Role
from whiteboard.presence import presence_window
from whiteboard.selectors import participant_role, whiteboard_for_user


@login_required
def whiteboard_page(request, whiteboard_id: int):
    # Staff get 404 here: opening the whiteboard would record them as present.
    whiteboard = whiteboard_for_user(user=request.user, whiteboard_id=whiteboard_id, staff_may_read=False)
    session = whiteboard.tutoring_session
    role = participant_role(session=session, user=request.user)
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


@login_required
def board_view(request, whiteboard_id: int):
    """The board, read-only: for staff (from the session page and admin) and the participants. It reads the
    strokes over HTTP and opens no presence socket, so watching never counts as presence."""
    whiteboard = whiteboard_for_user(user=request.user, whiteboard_id=whiteboard_id, staff_may_read=True)
    return render(
        request, "whiteboard/board_view.html", {"whiteboard": whiteboard, "session": whiteboard.tutoring_session}
    )
