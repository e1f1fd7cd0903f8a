"""The CSV's presence columns are what `presence_snapshot` says, as on the session page and in the API."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reports.selectors import ReportFilters, export_rows
from tests.conftest import T0
from tests.whiteboard.helpers import presence_trace
from whiteboard.selectors import presence_snapshot

pytestmark = pytest.mark.django_db

MARCH = ReportFilters(date_from=T0.date() - timedelta(days=5), date_to=T0.date() + timedelta(days=5))


@pytest.mark.parametrize("disconnect", [True, False], ids=["left", "tab still open"])
def test_export_rows_carry_the_snapshot_of_each_participant(staff, session, tutor, student, clock, disconnect):
    presence_trace(session.whiteboard, tutor, T0 - timedelta(minutes=2), T0 + timedelta(minutes=50))
    presence_trace(session.whiteboard, student, T0 + timedelta(minutes=7), T0 + timedelta(minutes=20))
    presence_trace(
        session.whiteboard, student, T0 + timedelta(minutes=25), T0 + timedelta(minutes=40), disconnect=disconnect
    )
    clock.at(T0 + timedelta(minutes=41))
    now = timezone.now()

    (row,) = export_rows(user=staff, filters=MARCH, now=now)

    session.whiteboard.refresh_from_db()
    snapshot = presence_snapshot(whiteboard=session.whiteboard, now=now)
    for role in ("tutor", "student"):
        status = snapshot[role]
        assert row[f"whiteboard__{role}_connected_at"] == status.connected_at
        assert row[f"whiteboard__{role}_last_activity_at"] == status.last_activity_at
        assert row[f"whiteboard__{role}_total_active_seconds"] == status.total_active_seconds
        assert row[f"whiteboard__{role}_reconnects"] == status.reconnects
    assert row["whiteboard__student_reconnects"] == 1


def test_a_session_without_a_whiteboard_exports_no_presence(staff, session):
    session.whiteboard = None
    session.save(update_fields=["whiteboard"])

    (row,) = export_rows(user=staff, filters=MARCH)

    assert row["whiteboard_id"] is None
    assert all(row[f"whiteboard__{r}_connected_at"] is None for r in ("tutor", "student"))
