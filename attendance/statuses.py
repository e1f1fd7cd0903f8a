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

# What a history record is: a change of attendance (`mark`, every record before issue 18), a
# tutor's cancellation of an upcoming session (the statuses it sets, excused and excused, under
# the tutor's source `manual`), or a move to another time (statuses and source as they stand, or
# as a withdrawn absence report left them). The design note's statuses and sources stay as they are.
MARK = "mark"
CANCEL = "cancel"
RESCHEDULE = "reschedule"
EVENTS = (MARK, CANCEL, RESCHEDULE)

# What a session's decision means for billing (`attendance.billing`), in the order reports list them.
DELIVERED = "delivered"
STUDENT_NO_SHOW = "student_no_show"
TUTOR_NO_SHOW = "tutor_no_show"
LATE_CANCELLATION = "late_cancellation"
CANCELLED_IN_TIME = "cancelled_in_time"
TUTOR_LATE_CANCELLATION = "tutor_late_cancellation"
BILLING_OUTCOMES = (
    DELIVERED,
    STUDENT_NO_SHOW,
    TUTOR_NO_SHOW,
    LATE_CANCELLATION,
    CANCELLED_IN_TIME,
    TUTOR_LATE_CANCELLATION,
)
# The outcomes the student's family may be charged for.
CHARGEABLE = (DELIVERED, STUDENT_NO_SHOW, LATE_CANCELLATION)

# How a contested decision was settled by an admin.
KEPT = "kept"
OVERRIDDEN = "overridden"
SETTLEMENTS = (KEPT, OVERRIDDEN)
