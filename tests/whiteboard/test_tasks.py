"""The sweeper as a Celery task (issue #17): eager here, the same code a worker runs."""

from datetime import timedelta

import pytest

from tests.conftest import T0
from tests.whiteboard.helpers import presence_trace
from whiteboard.models import Connection
from whiteboard.tasks import presence_sweep_task

pytestmark = pytest.mark.django_db


def test_sweep_task_closes_a_vanished_browser_once_and_says_so(session, student, clock):
    presence_trace(session.whiteboard, student, T0, T0 + timedelta(minutes=10), disconnect=False)
    clock.at(T0 + timedelta(minutes=20))

    first = presence_sweep_task.apply().get()
    second = presence_sweep_task.apply().get()

    assert (first, second) == ({"closed": 1}, {"closed": 0})
    assert Connection.objects.get().closed_at is not None


def test_sweep_task_leaves_a_live_connection_open(session, student, clock):
    presence_trace(session.whiteboard, student, T0, T0 + timedelta(minutes=10), disconnect=False)
    clock.at(T0 + timedelta(minutes=10, seconds=30))

    assert presence_sweep_task.apply().get() == {"closed": 0}
    assert Connection.objects.get().closed_at is None
