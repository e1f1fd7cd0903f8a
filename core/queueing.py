"""Queueing a task per committed row, so a broker that refuses loses nothing (e-mail, webhooks)."""

import logging
from collections.abc import Callable, Sequence

logger = logging.getLogger(__name__)


def queue_each(task, rows: Sequence, *, named: Callable[[object], str]) -> int:
    """Enqueue `task(row.pk)` for each row (without a broker: run it now, in-process); how many were.

    Never raises: its callers run once the rows are committed, so nothing is lost. If the broker refuses
    (Redis down), the rest are not tried (each try waits out the publish retries) and stay pending, for
    the app's overdue sweep to queue. `named(row)` names a row in the log line.
    """
    for queued, row in enumerate(rows):
        try:
            task.delay(row.pk)
        except Exception:
            logger.exception(
                "%s could not be queued; %d left pending for the overdue sweep", named(row), len(rows) - queued
            )
            return queued
    return len(rows)
