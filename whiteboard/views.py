"""Pages of the whiteboard: the drawing surface participants open, which runs the attendance tracker."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from whiteboard.models import Role
from whiteboard.selectors import participant_role, whiteboard_for_user


@login_required
def whiteboard_page(request, whiteboard_id: int):
    # Staff get 404 here: opening the whiteboard would record them as present.
    whiteboard = whiteboard_for_user(user=request.user, whiteboard_id=whiteboard_id, staff_may_read=False)
    session = whiteboard.tutoring_session
    role = participant_role(session=session, user=request.user)
    other_role = Role.STUDENT if role == Role.TUTOR else Role.TUTOR
    return render(
        request,
        "whiteboard/page.html",
        {
            "whiteboard": whiteboard,
            "session": session,
            "role": role,
            "other_role": other_role,
            "other": session.student if role == Role.TUTOR else session.tutor,
        },
    )
