"""Retention on a real PostgreSQL: two purges at once share the work; erasure records are kept for good."""

from collections import Counter
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction

from attendance.models import PresenceErasure
from attendance.retention import presence_detail_erase, presence_detail_purge
from tests.attendance.test_concurrency import run_together
from tests.attendance.test_retention import END, LATER, lived
from tests.conftest import T0
from tests.factories import TutoringSessionFactory, UserFactory
from whiteboard.models import Connection, WhiteboardSession

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NOW = LATER + timedelta(days=10)  # past the retention of every session below (one a day from T0)


def sessions(count):
    tutor, student = UserFactory(), UserFactory()
    made = []
    for day in range(count):
        session = TutoringSessionFactory(
            tutor=tutor,
            student=student,
            scheduled_start=T0 + timedelta(days=day),
            scheduled_end=END + timedelta(days=day),
        )
        made.append(lived(session, tutor=tutor, student=student))
    return tutor, student, made


def test_two_purges_at_once_share_the_work_and_remove_everything_once():
    sessions(6)
    expected = presence_detail_purge(now=NOW, dry_run=True)
    reports = []

    run_together(*[lambda: reports.append(presence_detail_purge(now=NOW, batch_size=1))] * 2)

    assert expected.whiteboards == 6
    assert sum(r.whiteboards for r in reports) == 6
    assert sum((r.removed for r in reports), Counter()) == expected.removed
    assert not Connection.objects.exists()
    assert WhiteboardSession.objects.filter(detail_removed_at__isnull=True).count() == 0
    assert presence_detail_purge(now=NOW).whiteboards == 0


def test_a_purge_skips_a_whiteboard_another_transaction_holds():
    _, _, made = sessions(2)
    held = made[0].whiteboard_id
    report = []

    with transaction.atomic():
        WhiteboardSession.objects.select_for_update().get(pk=held)
        run_together(lambda: report.append(presence_detail_purge(now=NOW)))  # another connection, not blocked

    assert report[0].whiteboards == 1
    assert WhiteboardSession.objects.get(pk=held).detail_removed_at is None
    assert presence_detail_purge(now=NOW).whiteboards == 1


def test_database_refuses_to_update_or_delete_an_erasure_record():
    _, student, _ = sessions(1)
    staff = UserFactory(is_staff=True)
    record = presence_detail_erase(person=student, by=staff, reason="request", now=NOW)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        PresenceErasure.objects.update(reason="rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        PresenceErasure.objects.all().delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM presence_erasures")
    assert PresenceErasure.objects.get().reason == record.reason == "request"
