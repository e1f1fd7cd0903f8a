"""The attendance vocabulary: status and source values, and the fields that hold a session's attendance.

Pure (no Django), so the suggestion rules, the report figures and the models all read the one
definition; the models' TextChoices and CheckConstraints are built from these tuples.
"""

PRESENT = "present"
LATE = "late"
LEFT_EARLY = "left_early"
ABSENT = "absent"
EXCUSED = "excused"
# Every status a session can hold, in the order pages and reports list them.
STATUSES = (PRESENT, LATE, LEFT_EARLY, ABSENT, EXCUSED)
# Statuses that count as having attended.
ATTENDED = (PRESENT, LATE, LEFT_EARLY)
# What a suggestion can say: it never suggests `excused` (only people know that), and says
# `unknown` when the evidence does not decide (never stored on a session).
SUGGESTED = (PRESENT, LATE, LEFT_EARLY, ABSENT)
UNKNOWN = "unknown"

# How the current attendance was determined (the design note's source values).
MANUAL = "manual"
WHITEBOARD_AUTO = "whiteboard_auto"
PARENT_REPORTED = "parent_reported"
ADMIN_OVERRIDE = "admin_override"
SYSTEM_DEFAULT = "system_default"
SOURCES = (MANUAL, WHITEBOARD_AUTO, PARENT_REPORTED, ADMIN_OVERRIDE, SYSTEM_DEFAULT)

# The session's attendance, as every door reads and the marking service writes it.
ATTENDANCE_FIELDS = (
    "tutor_attendance_status",
    "student_attendance_status",
    "attendance_source",
    "attendance_marked_by",
    "attendance_marked_at",
    "attendance_notes",
)
