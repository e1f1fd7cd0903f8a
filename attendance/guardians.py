"""Whether a user is a student's parent: the one question attendance asks about families.

Guardianship belongs to `families`, which sits above attendance (it imports attendance, never
the reverse). So attendance owns this small interface and families plugs its selector in from
`FamiliesConfig.ready()`. Without a registered check nobody is a parent: parents' changes are
refused as for any outsider.
"""

from collections.abc import Callable

GuardianCheck = Callable[..., bool]  # (*, user_id: int, student_id: int) -> bool

_check: GuardianCheck | None = None


def guardian_check_register(check: GuardianCheck | None) -> None:
    """Set the function that answers `is_guardian` (families registers its selector; None unregisters)."""
    global _check
    _check = check


def is_guardian(*, user_id: int, student_id: int) -> bool:
    return _check is not None and _check(user_id=user_id, student_id=student_id)
