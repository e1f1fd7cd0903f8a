"""Contesting a decision: the tutor or a parent raises a dispute within the window, an admin settles it.

The window and the lock are rules in `attendance.rules` (`dispute_refusal`, `decision_locked`), so
pages and API refuse alike. Settling is keeping the decision or overriding it through the one
admin override (`attendance_mark_by_hand` by an admin: source `admin_override`, in the history).
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from attendance.guardians import is_guardian
from attendance.models import AttendanceDispute, DisputeSettlement, TutoringSession
from attendance.rules import dispute_refusal
from attendance.services import attendance_mark_by_hand, session_save
from core.errors import DomainError


def _note(note: str, what: str) -> str:
    note = (note or "").strip()
    if not note:
        raise DomainError(f"Please say {what}.", "notes_required")
    return note


def dispute_raise(*, session: TutoringSession, by, note: str, now: datetime | None = None) -> AttendanceDispute:
    """The session's tutor or one of the student's parents contests its standing decision."""
    note = _note(note, "why you contest this decision")
    with transaction.atomic():
        # The row lock orders this against marks and other disputes: the decision contested is the one standing.
        locked = TutoringSession.objects.select_for_update().get(pk=session.pk)
        if by.pk != locked.tutor_id and not is_guardian(user_id=by.pk, student_id=locked.student_id):
            raise DomainError("No such session.", "not_found")
        now = now or timezone.now()
        refusal = dispute_refusal(
            locked, by_id=by.pk, now=now, open_dispute=locked.disputes.filter(settled_at__isnull=True).exists()
        )
        if refusal is not None:
            raise refusal
        change = locked.attendance_changes.order_by("-id").first()
        if change is None:
            raise DomainError("Nothing has been decided for this session yet.", "nothing_to_dispute")
        dispute = AttendanceDispute.objects.create(
            session=locked, change=change, raised_by=by, raised_at=now, note=note
        )
        session_save(session=locked, fields=())
    return dispute


def dispute_settle(
    *,
    dispute: AttendanceDispute,
    by,
    settlement: str,
    note: str,
    tutor_status: str | None = None,
    student_status: str | None = None,
    now: datetime | None = None,
) -> AttendanceDispute:
    """An admin keeps the contested decision or overrides it (an admin override, recorded in the history)."""
    if by is None or not by.is_staff:
        raise DomainError("Only an admin can settle a dispute.", "permission_denied")
    if settlement not in DisputeSettlement.values:
        raise DomainError(f"Unknown settlement {settlement!r}.", "invalid")
    note = _note(note, "why")
    with transaction.atomic():
        locked = AttendanceDispute.objects.select_for_update().select_related("session").get(pk=dispute.pk)
        if not locked.is_open:
            raise DomainError("This dispute has been settled already.", "already_settled")
        now = now or timezone.now()
        if settlement == DisputeSettlement.OVERRIDDEN:
            attendance_mark_by_hand(
                session=locked.session,
                by=by,
                tutor_status=tutor_status,
                student_status=student_status,
                notes=f"Dispute settled: {note}",
                now=now,
            )
        else:
            session_save(session=TutoringSession.objects.select_for_update().get(pk=locked.session_id), fields=())
        locked.settled_at, locked.settled_by, locked.settlement, locked.settlement_note = now, by, settlement, note
        locked.save(update_fields=["settled_at", "settled_by", "settlement", "settlement_note"])
    return locked
