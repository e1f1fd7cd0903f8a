"""What the session page's live parts show, read once for the page and for its pushes (attendance/live.py)."""

from attendance import services
from attendance.display import attendance_view
from attendance.labels import SOURCE_LABELS, history_entries
from attendance.models import TutoringSession
from attendance.retention import history_with_removals, presence_removals, spans_still_held
from attendance.timeline import build_timeline
from whiteboard.board import board_engagement
from whiteboard.presence import presence_window
from whiteboard.selectors import open_connections_of, presence_snapshot


def session_page_context(session: TutoringSession, *, now) -> dict:
    """What the session page's live parts show (attendance/live.py renders the same for its pushes)."""
    outages = services.session_outages(session, now=now)
    open_connections = None
    if session.whiteboard is not None:  # read once for the suggestion and the presence both
        open_connections = getattr(session.whiteboard, "open_connections", None)  # the live pages prefetch them
        if open_connections is None:
            open_connections = open_connections_of(session.whiteboard)
    suggestion = services.attendance_suggest(
        session=session, now=now, open_connections=open_connections, outages=outages
    )
    timeline = None
    snapshot = None
    presence_rows = []
    if session.whiteboard is not None:
        snapshot = presence_snapshot(whiteboard=session.whiteboard, now=now, open_connections=open_connections)
        # Each participant's presence beside their engagement on the board (seconds drawn, strokes).
        engagement = board_engagement(whiteboard=session.whiteboard)
        presence_rows = [(role, snapshot[role], engagement[role]) for role in snapshot]
        if lanes := spans_still_held(snapshot):  # a participant whose detail was removed has no lane
            timeline = build_timeline(
                scheduled_start=session.scheduled_start,
                scheduled_end=session.scheduled_end,
                now=now,
                spans_by_label=lanes,
                unknown=[(gap.start, gap.end) for gap in outages],
            )
    removals = presence_removals(whiteboard=session.whiteboard)
    history = history_entries(session.attendance_changes.select_related("actor").order_by("-id"))
    return {
        "session": session,
        "suggestion": suggestion,
        "applicable": services.suggestion_is_applicable(suggestion),
        "snapshot": snapshot,
        "presence_rows": presence_rows,
        "timeline": timeline,
        "outages": outages,
        "view": attendance_view(session, now=now, snapshot=snapshot),
        "started": now >= session.scheduled_start,
        "window": presence_window(scheduled_start=session.scheduled_start, scheduled_end=session.scheduled_end),
        "history": history_with_removals(history, removals),
        "removals": removals,
        "source_label": SOURCE_LABELS[session.attendance_source],
        "now": now,
    }
