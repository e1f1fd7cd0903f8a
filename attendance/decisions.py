"""Decisions on suggestions, read from the attendance history (issue 19).

A history row that kept a suggestion is one of two things:

- a person *chose* statuses (a tutor's manual mark, an admin override that chose): each
  participant whose status they chose is one decision, which either kept the suggested status
  or changed it. Only these measure the suggestion;
- the suggestion was *applied* (a tutor or an admin accepted it, or the finalising job did):
  it cannot disagree with itself, so it is counted apart and never in the agreement rate.

Rows from before the action was recorded are read through `models.decision_action`.
Reports and the calibration both read decisions here, so they count the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from attendance.models import CHOSEN_ROLES, AttendanceChange, DecisionAction, decision_action
from attendance.statuses import SUGGESTED as SUGGESTED_STATUSES

ROLES = ("tutor", "student")

COLUMNS = (
    "pk",
    "session_id",
    "session__tutor_id",
    "changed_at",
    "source",
    "action",
    "suggestion",
    "new_tutor_status",
    "new_student_status",
)


@dataclass(frozen=True)
class Decision:
    """One participant's status at one history row that kept a suggestion."""

    change_id: int
    session_id: int
    tutor_id: int
    changed_at: datetime
    role: str  # whose status: tutor or student
    suggested: str
    confidence: float  # the rule confidence shown with the suggestion
    decided: str
    chosen: bool  # a person chose it (counts); False: the suggestion was applied (counted apart)

    @property
    def kept(self) -> bool:
        return self.decided == self.suggested


def decisions_from_rows(rows: Iterable[dict]) -> Iterator[Decision]:
    """Decisions from history rows (dicts with COLUMNS). Rows with no suggestion, or no decision on it, give none."""
    for row in rows:
        suggestion = row["suggestion"]
        if not suggestion:
            continue
        new = {"tutor": row["new_tutor_status"], "student": row["new_student_status"]}
        action = decision_action(
            action=row["action"],
            source=row["source"],
            suggestion=suggestion,
            new_tutor_status=new["tutor"],
            new_student_status=new["student"],
        )
        if action == DecisionAction.ACCEPTED:
            roles, chosen = ROLES, False
        elif action in CHOSEN_ROLES:
            roles, chosen = CHOSEN_ROLES[action], True
        else:
            continue
        for role in roles:
            part = suggestion.get(role) or {}
            status = part.get("status")
            if status not in SUGGESTED_STATUSES:
                continue  # `unknown`: nothing was suggested for this participant
            yield Decision(
                change_id=row["pk"],
                session_id=row["session_id"],
                tutor_id=row["session__tutor_id"],
                changed_at=row["changed_at"],
                role=role,
                suggested=status,
                confidence=float(part.get("confidence") or 0.0),
                decided=new[role],
                chosen=chosen,
            )


def decision_changes(changes: QuerySet[AttendanceChange] | None = None) -> QuerySet:
    """History rows that kept a suggestion, as dicts with COLUMNS, oldest first (one query, read in chunks)."""
    changes = AttendanceChange.objects.all() if changes is None else changes
    return changes.filter(suggestion__isnull=False).order_by("id").values(*COLUMNS)


def decisions(changes: QuerySet[AttendanceChange] | None = None) -> Iterator[Decision]:
    """Every decision in these history rows (default: all history)."""
    return decisions_from_rows(decision_changes(changes).iterator(chunk_size=2000))
