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


def status_label(status: str) -> str:
    """A status (or a suggestion's `unknown`) in words; an unknown value as it is."""
    return SUGGESTED_STATUS_LABELS.get(status, status)


def source_description(source: str) -> str:
    return SOURCE_DESCRIPTIONS.get(source, source)
