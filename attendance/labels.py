"""Words shown to people for attendance values: pages, e-mails, CSV and admin read them from here.

A plain module of dicts and functions (no Django), keyed by the values in `attendance.statuses`;
a test holds every dict complete.
"""

from attendance import statuses as s

# A status, as a badge or a column says it.
STATUS_LABELS = {
    s.PRESENT: "Present",
    s.LATE: "Late",
    s.LEFT_EARLY: "Left early",
    s.ABSENT: "Absent",
    s.EXCUSED: "Excused",
}
# The same, for a suggestion, which may also not know.
SUGGESTED_STATUS_LABELS = {**STATUS_LABELS, s.UNKNOWN: "Unknown"}

# Where a status came from, in full (admin, CSV, history).
SOURCE_DESCRIPTIONS = {
    s.MANUAL: "Marked by the tutor",
    s.WHITEBOARD_AUTO: "From whiteboard presence",
    s.PARENT_REPORTED: "Reported by a parent",
    s.ADMIN_OVERRIDE: "Admin override",
    s.SYSTEM_DEFAULT: "Assumed (not yet marked)",
}
# Where a status came from, in the one word tutors' and parents' cards show.
SOURCE_LABELS = {
    s.SYSTEM_DEFAULT: "assumed",
    s.WHITEBOARD_AUTO: "whiteboard",
    s.MANUAL: "tutor",
    s.ADMIN_OVERRIDE: "admin",
    s.PARENT_REPORTED: "parent",
}
# How a change came about, in words a parent understands (e-mails: "marked absent ...").
SOURCE_HOW = {
    s.MANUAL: "by the tutor",
    s.WHITEBOARD_AUTO: "from the whiteboard: the time spent in the session",
    s.ADMIN_OVERRIDE: "by an administrator",
    s.PARENT_REPORTED: "by a parent",
    s.SYSTEM_DEFAULT: "by default",
}


# `AttendanceChange.action` for a change that applied the suggestion (models.DecisionAction.ACCEPTED;
# spelled here so this module stays free of Django).
ACCEPTED_SUGGESTION = "accepted_suggestion"


def status_label(status: str) -> str:
    """A status (or a suggestion's `unknown`) in words; an unknown value as it is."""
    return SUGGESTED_STATUS_LABELS.get(status, status)


def source_description(source: str) -> str:
    return SOURCE_DESCRIPTIONS.get(source, source)


# What a history record is, in words (admin, history lists).
EVENT_LABELS = {
    s.MARK: "Attendance marked",
    s.CANCEL: "Session cancelled",
    s.RESCHEDULE: "Session moved",
}
# A billing outcome, as the session page, reports and the CSV say it.
BILLING_LABELS = {
    s.DELIVERED: "Delivered",
    s.STUDENT_NO_SHOW: "Student no-show",
    s.TUTOR_NO_SHOW: "Tutor no-show",
    s.LATE_CANCELLATION: "Late cancellation",
    s.CANCELLED_IN_TIME: "Cancelled in time",
    s.TUTOR_LATE_CANCELLATION: "Tutor late cancellation",
}
# How an admin settled a contested decision.
SETTLEMENT_LABELS = {s.KEPT: "Decision kept", s.OVERRIDDEN: "Decision overridden"}


def person_name(user) -> str:
    return user.get_full_name() or user.get_username()


def change_applied_suggestion(change) -> bool:
    """True when the change applied the suggestion (not when a person marked with one standing beside).

    Marks by hand keep the suggestion too, for the agreement reports; only an applied one is its source.
    The recorded `action` (issue 19) says it where present; rows from before it fall back on the
    source and the stored suggestion's `"applied": true` flag.
    """
    if not change.suggestion:
        return False
    action = getattr(change, "action", "")
    if action:
        return action == ACCEPTED_SUGGESTION
    return change.source == s.WHITEBOARD_AUTO or bool(change.suggestion.get("applied"))


def change_confidence(change) -> float | None:
    """The applied suggestion's confidence (as sure as its less sure participant); None if none was applied."""
    if not change_applied_suggestion(change):
        return None
    return min(change.suggestion["tutor"]["confidence"], change.suggestion["student"]["confidence"])


def change_source_label(change) -> str:
    """How the change came about, naming who: "marked by Maria Lopez", "applied by the finalising job"."""
    who = person_name(change.actor) if change.actor is not None else None
    source = change.source
    if source == s.MANUAL:
        return f"marked by {who}"
    if source == s.WHITEBOARD_AUTO:
        return f"suggestion accepted by {who}" if who else "suggestion applied by the finalising job"
    if source == s.ADMIN_OVERRIDE:
        applied = " (suggestion applied)" if change_applied_suggestion(change) else ""
        return f"admin override by {who or 'an admin'}{applied}"
    if source == s.PARENT_REPORTED:
        return f"parent report by {who}" if who else "parent report"
    # Back to the default: only a parent withdrawing their report does that.
    if change.previous_source == s.PARENT_REPORTED:
        return f"parent report withdrawn by {who}" if who else "parent report withdrawn"
    return "reset to not yet marked"


def change_status_moves(change) -> list[tuple[str, str, str]]:
    """(who, from, to) for each participant whose status the change moved, in display words."""
    moves = []
    for who, old, new in (
        ("Tutor", change.old_tutor_status, change.new_tutor_status),
        ("Student", change.old_student_status, change.new_student_status),
    ):
        if old != new:
            moves.append((who, status_label(old), status_label(new)))
    return moves


def change_changes_nothing(change) -> bool:
    """Same statuses, same source, no note: a row that tells nothing (older data may hold some)."""
    return (
        change.old_tutor_status == change.new_tutor_status
        and change.old_student_status == change.new_student_status
        and change.source == change.previous_source
        and not change.notes.strip()
    )


def history_entries(changes) -> list[dict]:
    """History as people read it, rows that change nothing left out: for each change, when, how
    (`how`: "marked by Maria Lopez"), the status moves in words, the applied suggestion's
    confidence (None unless one was applied) and the note."""
    return [
        {
            "change": change,
            "how": change_source_label(change),
            "moves": change_status_moves(change),
            "confidence": change_confidence(change),
            "notes": change.notes,
        }
        for change in changes
        if not change_changes_nothing(change)
    ]
