"""Read side of attendance: which sessions a user may open, and which still wait for a decision."""

from datetime import datetime

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404

from attendance.models import AttendanceDispute, AttendanceSource, TutoringSession
from attendance.rules import marking_window
from whiteboard.models import Connection


def session_for_tutor_or_staff(user, session_id: int) -> TutoringSession:
    """The session if `user` is its tutor or staff; 404 for everyone else, students included (no hint it exists).

    The one access rule for the attendance API and the tutor's pages.
    """
    queryset = TutoringSession.objects.select_related(
        "tutor", "student", "whiteboard", "whiteboard__board", "attendance_marked_by"
    )
    if not user.is_staff:
        queryset = queryset.filter(tutor_id=user.pk)
    session = queryset.filter(pk=session_id).first()
    if session is None:
        raise Http404("No such session.")
    return session


def sessions_waiting_for_decision(
    *, now: datetime, sessions: QuerySet[TutoringSession] | None = None
) -> QuerySet[TutoringSession]:
    """Ended sessions still at the assumed default that their tutor can still mark.

    "Can still mark" is the marking service's window (`attendance.rules.tutor_change_refusal`):
    up to ATTENDANCE_MARKING_WINDOW_DAYS after the end, that moment included. The dashboard,
    the tutors' daily digest and the admin list all read this. `sessions` narrows it (a
    tutor's own, with what a card shows); the caller orders.
    """
    sessions = TutoringSession.objects.all() if sessions is None else sessions
    return sessions.filter(
        attendance_source=AttendanceSource.SYSTEM_DEFAULT,
        scheduled_end__lte=now,
        scheduled_end__gte=now - marking_window(),
    )


def sessions_closed_without_decision(
    *, now: datetime, sessions: QuerySet[TutoringSession] | None = None
) -> QuerySet[TutoringSession]:
    """Sessions nobody decided before the marking window closed: still assumed, now only an admin can mark them.

    The companion of `sessions_waiting_for_decision`: together they are every ended session
    still at the assumed default, and no session is in both.
    """
    sessions = TutoringSession.objects.all() if sessions is None else sessions
    return sessions.filter(attendance_source=AttendanceSource.SYSTEM_DEFAULT, scheduled_end__lt=now - marking_window())


def sessions_visible_to(user) -> QuerySet[TutoringSession]:
    """The sessions `user` may list: staff all, a tutor theirs, a student theirs, anyone else none.

    Parents see their children's sessions on the family pages, not through the API: guardianship
    belongs to families, above attendance, and the API has no parent-facing use yet.
    """
    sessions = TutoringSession.objects.all()
    if user.is_staff:
        return sessions
    return sessions.filter(Q(tutor_id=user.pk) | Q(student_id=user.pk))


def sessions_for_listing(sessions: QuerySet[TutoringSession], *, with_evidence: bool) -> QuerySet[TutoringSession]:
    """What a list shows of each session, in a constant number of queries however many rows.

    `open_dispute` is annotated; `with_evidence` also fetches each whiteboard's open connections
    (as `whiteboard.open_connections`), all a suggestion needs beyond the rows themselves.
    """
    open_disputes = AttendanceDispute.objects.filter(session=OuterRef("pk"), settled_at__isnull=True)
    sessions = sessions.select_related("tutor", "student", "attendance_marked_by").annotate(
        open_dispute=Exists(open_disputes)
    )
    if with_evidence:
        open_connections = Connection.objects.filter(closed_at__isnull=True)
        sessions = sessions.select_related("whiteboard", "whiteboard__board").prefetch_related(
            Prefetch("whiteboard__connections", queryset=open_connections, to_attr="open_connections")
        )
    return sessions
