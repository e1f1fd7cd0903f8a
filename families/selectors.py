"""Read side of families: who is whose parent, and which sessions a parent sees.

`is_guardian_of` is the one guardianship query: the families pages and services call it, and
attendance's marking service reaches it through `attendance.guardians` (registered in
`FamiliesConfig.ready`), since attendance may not import families.
"""

from django.db.models import QuerySet

from attendance.models import TutoringSession
from families.models import Guardian, GuardianStudent


def guardian_of(user) -> Guardian | None:
    """The user's parent record, if they are a parent."""
    if not user.is_authenticated:
        return None
    return Guardian.objects.filter(user=user).first()


def is_guardian_of(*, user_id: int, student_id: int) -> bool:
    """Whether the user is one of the student's parents."""
    return GuardianStudent.objects.filter(guardian_id=user_id, student_id=student_id).exists()


def guardian_sessions(guardian: Guardian) -> QuerySet[TutoringSession]:
    """Every session of the parent's children, with what a card shows."""
    return TutoringSession.objects.filter(student__guardian_links__guardian=guardian).select_related("tutor", "student")
