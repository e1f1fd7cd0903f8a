from django.http import Http404

from attendance.models import TutoringSession


def session_for_tutor_or_staff(user, session_id: int) -> TutoringSession:
    """The session if `user` is its tutor or staff; 404 for everyone else, students included (no hint it exists).

    The one access rule for the attendance API and the tutor's pages.
    """
    queryset = TutoringSession.objects.select_related("tutor", "student", "whiteboard", "attendance_marked_by")
    if not user.is_staff:
        queryset = queryset.filter(tutor_id=user.pk)
    session = queryset.filter(pk=session_id).first()
    if session is None:
        raise Http404("No such session.")
    return session
