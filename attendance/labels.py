"""What people read: statuses, where a status came from, and who changed it, in plain words.

Plain dicts and functions, so pages, e-mails and admin say the same thing.
"""

from attendance.models import AttendanceSource

STATUS_LABELS = {
    "present": "Present",
    "late": "Late",
    "left_early": "Left early",
    "absent": "Absent",
    "excused": "Excused",
    "unknown": "Unknown",
}

# Where a session's current status came from, as a short chip beside it.
SOURCE_LABELS = {
    AttendanceSource.SYSTEM_DEFAULT: "assumed",
    AttendanceSource.WHITEBOARD_AUTO: "whiteboard",
    AttendanceSource.MANUAL: "tutor",
    AttendanceSource.ADMIN_OVERRIDE: "admin",
    AttendanceSource.PARENT_REPORTED: "parent",
}


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def person_name(user) -> str:
    return user.get_full_name() or user.get_username()


def change_applied_suggestion(change) -> bool:
    """True when the change applied the suggestion (not when a person marked with one standing beside).

    Marks by hand keep the suggestion too, for the agreement reports; only an applied one is its source.
    """
    if not change.suggestion:
        return False
    return change.source == AttendanceSource.WHITEBOARD_AUTO or bool(change.suggestion.get("applied"))


def change_confidence(change) -> float | None:
    """The applied suggestion's confidence (as sure as its less sure participant); None if none was applied."""
    if not change_applied_suggestion(change):
        return None
    return min(change.suggestion["tutor"]["confidence"], change.suggestion["student"]["confidence"])


def change_source_label(change) -> str:
    """How the change came about, naming who: "marked by Maria Lopez", "applied by the finalising job"."""
    who = person_name(change.actor) if change.actor is not None else None
    source = change.source
    if source == AttendanceSource.MANUAL:
        return f"marked by {who}"
    if source == AttendanceSource.WHITEBOARD_AUTO:
        return f"suggestion accepted by {who}" if who else "suggestion applied by the finalising job"
    if source == AttendanceSource.ADMIN_OVERRIDE:
        applied = " (suggestion applied)" if change_applied_suggestion(change) else ""
        return f"admin override by {who or 'an admin'}{applied}"
    if source == AttendanceSource.PARENT_REPORTED:
        return f"parent report by {who}" if who else "parent report"
    # Back to the default: only a parent withdrawing their report does that.
    if change.previous_source == AttendanceSource.PARENT_REPORTED:
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
