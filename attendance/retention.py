"""Keeping children's data no longer than needed: the retention purge and erasure on request.

Raw presence detail (connection rows, the connection log, presence spans: `whiteboard.retention`,
whose registry `RAW_DETAIL_KINDS` names the tables) goes; per-session totals, the suggestion as it
stood and the attendance history stay. The history is append-only and never touched: an erasure
is recorded in `presence_erasures` (append-only too) and read beside the history on the session page.

- `presence_detail_purge`: the daily job (beat; `manage.py purge_presence_detail`). Sessions that
  ended more than PRESENCE_RETENTION_DAYS ago, PRESENCE_PURGE_BATCH whiteboards per transaction,
  each locked and skipped when another run holds it: two runs at once share the work, and a
  second run finds nothing left.
- `presence_detail_erase`: an admin erases one person's detail on every session whose presence
  window has closed, with a reason; one `PresenceErasure` row says who, when, whose, why, how much.

Notification rows (`families`, `notifications_sent`) hold the messages sent (names, statuses, the
recipient's address), not presence detail: they are the record of what a parent or tutor was told,
and stay with the history they report.
"""

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from attendance.labels import person_name
from attendance.models import PresenceErasure, TutoringSession
from attendance.services import attendance_suggest
from core.errors import DomainError
from whiteboard.models import Role, WhiteboardSession
from whiteboard.presence import presence_window
from whiteboard.retention import ERASURE, RETENTION, detail_counts, detail_remove
from whiteboard.selectors import participant_role


@dataclass
class PurgeReport:
    """What a purge removed (or, dry, would remove): whiteboards and, per kind, rows, log entries and spans."""

    cutoff: datetime
    dry_run: bool
    whiteboards: int = 0
    batches: int = 0
    removed: Counter = field(default_factory=Counter)
    more: bool = False  # stopped at max_batches with whiteboards still due

    def as_dict(self) -> dict:
        return {
            "cutoff": self.cutoff.isoformat(),
            "dry_run": self.dry_run,
            "whiteboards": self.whiteboards,
            "batches": self.batches,
            **dict(sorted(self.removed.items())),
            "more": self.more,
        }


def retention_cutoff(*, now: datetime) -> datetime:
    """Sessions that ended before this have their raw presence detail removed."""
    return now - timedelta(days=settings.PRESENCE_RETENTION_DAYS)


def whiteboards_past_retention(*, cutoff: datetime) -> QuerySet[WhiteboardSession]:
    """Whiteboards still holding detail whose session ended before `cutoff` (without a session: made before it)."""
    return WhiteboardSession.objects.filter(detail_removed_at__isnull=True).filter(
        Q(tutoring_session__scheduled_end__lt=cutoff) | Q(tutoring_session__isnull=True, created_at__lt=cutoff)
    )


def _suggestion_now(whiteboard: WhiteboardSession, *, now: datetime) -> dict | None:
    session = getattr(whiteboard, "tutoring_session", None)
    if session is None:
        return None
    return attendance_suggest(session=session, now=now).to_dict()


def presence_detail_purge(
    *, now: datetime | None = None, dry_run: bool = False, batch_size: int | None = None, max_batches: int | None = None
) -> PurgeReport:
    """Remove the raw presence detail of sessions past PRESENCE_RETENTION_DAYS, keeping their totals.

    Batches of `batch_size` whiteboards, each batch one transaction over rows locked with SKIP
    LOCKED: a concurrent run (or a presence write) holding one is left to it, and a row done by
    another run no longer matches (`detail_removed_at` is set). `dry_run`: count, remove nothing.
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.PRESENCE_PURGE_BATCH
    report = PurgeReport(cutoff=retention_cutoff(now=now), dry_run=dry_run)
    due = whiteboards_past_retention(cutoff=report.cutoff).select_related("tutoring_session").order_by("pk")
    if dry_run:
        for whiteboard in due.iterator(chunk_size=batch_size):
            report.whiteboards += 1
            report.removed.update(detail_counts(whiteboard=whiteboard))
        return report
    while max_batches is None or report.batches < max_batches:
        with transaction.atomic():
            batch = list(due.select_for_update(skip_locked=True, of=("self",))[:batch_size])
            if not batch:
                return report
            for whiteboard in batch:
                suggestion = _suggestion_now(whiteboard, now=now)
                report.removed.update(
                    detail_remove(
                        whiteboard=whiteboard,
                        roles=Role.values,
                        because=RETENTION,
                        now=now,
                        suggestion=suggestion,
                        retention_days=settings.PRESENCE_RETENTION_DAYS,
                    )
                )
        report.whiteboards += len(batch)
        report.batches += 1
    report.more = due.exists()
    return report


def presence_detail_erase(*, person, by, reason: str, now: datetime | None = None) -> PresenceErasure:
    """Erase `person`'s raw presence detail on every session of theirs whose presence window has closed.

    Staff only, with a reason. Their totals, the sessions' suggestions as they stood and the history
    stay; the returned record (append-only) is what the sessions' history shows. Sessions still
    ahead or running are left (`counts["left_open"]`): their presence is not over yet.
    """
    if by is None or not by.is_staff:
        raise DomainError("Only an admin can erase presence detail.", "permission_denied")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Say why (the request this erasure answers).", "reason_required")
    now = now or timezone.now()
    key = uuid.uuid4()
    removed: Counter = Counter()
    session_ids, left_open = [], 0
    with transaction.atomic():
        sessions = TutoringSession.objects.filter(Q(tutor=person) | Q(student=person))
        # Locked in id order, like every other writer of these rows; the presence doors refuse a
        # closed window, so nothing adds detail to these sessions once this has run.
        whiteboards = (
            WhiteboardSession.objects.select_for_update(of=("self",))
            .select_related("tutoring_session")
            .filter(tutoring_session__in=sessions)
            .order_by("pk")
        )
        for whiteboard in whiteboards:
            session = whiteboard.tutoring_session
            window = presence_window(scheduled_start=session.scheduled_start, scheduled_end=session.scheduled_end)
            if now < window.closes_at:
                left_open += 1
                continue
            removed.update(
                detail_remove(
                    whiteboard=whiteboard,
                    roles=[participant_role(session=session, user=person)],
                    because=ERASURE,
                    now=now,
                    suggestion=_suggestion_now(whiteboard, now=now),
                    erasure=str(key),
                )
            )
            session_ids.append(session.pk)
        return PresenceErasure.objects.create(
            key=key,
            person=person,
            erased_by=by,
            erased_at=now,
            reason=reason,
            session_ids=session_ids,
            counts={**dict(sorted(removed.items())), "sessions": len(session_ids), "left_open": left_open},
        )


# --- what pages show of removals ---------------------------------------------------------------------


ROLE_WORDS = {Role.TUTOR: "the tutor", Role.STUDENT: "the student"}


def _period(days: int | None) -> str:
    if not days:
        return "the retention period"
    months = round(days / 30.4375)
    return f"{months} months" if days >= 60 else f"{days} days"


def presence_removals(*, whiteboard: WhiteboardSession | None) -> list[dict]:
    """Each removal of raw detail from the whiteboard, newest first, in words: `at`, `because`, `text`.

    The session page lists them beside the history ("Presence detail of the student erased on
    request by Ann Admin") and says above the timeline why it is gone.
    """
    kept = (whiteboard and whiteboard.presence_kept) or {}
    groups: dict[tuple, list[str]] = {}
    for role in Role.values:
        if removal := kept.get(role):
            groups.setdefault((removal["removed_at"], removal["because"], removal.get("erasure")), []).append(role)
    keys = [key for _, _, key in groups if key]
    erasures = {str(e.key): e for e in PresenceErasure.objects.filter(key__in=keys).select_related("erased_by")}
    entries = []
    for (at, because, key), roles in groups.items():
        whose = " and ".join(ROLE_WORDS[role] for role in roles)
        if because == ERASURE:
            erasure = erasures.get(key)
            by = person_name(erasure.erased_by) if erasure else "an admin"
            text = f"Presence detail of {whose} erased on request by {by}"
        else:
            days = kept[roles[0]].get("retention_days")
            text = f"Presence detail of {whose} removed after {_period(days)} (retention)"
        entries.append({"at": datetime.fromisoformat(at), "because": because, "roles": roles, "text": text})
    return sorted(entries, key=lambda entry: entry["at"], reverse=True)


def spans_still_held(snapshot: dict) -> dict[str, list[dict]]:
    """The timeline's lanes: each participant whose detail is still held (a removed one would read as absent)."""
    return {role.capitalize(): status.spans for role, status in snapshot.items() if status.detail_removed is None}


def history_with_removals(history: list[dict], removals: list[dict]) -> list[dict]:
    """The history entries (newest first) with the removals placed among them by time, as `{"removal": ...}`."""
    merged, pending = [], list(removals)
    for entry in history:
        while pending and pending[0]["at"] >= entry["change"].changed_at:
            merged.append({"removal": pending.pop(0)})
        merged.append(entry)
    return merged + [{"removal": removal} for removal in pending]
