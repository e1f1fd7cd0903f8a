"""Pages of the whiteboard: the drawing surface participants open, which runs the attendance tracker."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render

from whiteboard.models import Role, WhiteboardSession


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
