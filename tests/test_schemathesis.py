"""Schemathesis against the project's own OpenAPI schema, in-process: a bounded, derandomized run for CI.

Every operation, every default check, as the session's tutor and as its student, with path ids and
connection ids that mostly name their own (tests/schemathesis_hooks.py), so the happy paths run as
well as the 404s. `make schemathesis` runs a fuller version against a real server.
"""

from datetime import timedelta

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings

from accounts.services import token_issue
from config.wsgi import application
from tests import schemathesis_hooks
from tests.factories import TutoringSessionFactory
from whiteboard.services import presence_connect

# Loaded at collection, in-process through WSGI (serving the schema touches no database).
# Not `schemathesis.pytest.from_fixture`: its lazy loader breaks on pytest 9.2's node ids.
schema = schemathesis.openapi.from_wsgi("/api/schema?format=json", application)

WHITEBOARD_OPERATIONS = {
    "POST /api/whiteboard/sessions/{session_id}/connect",
    "POST /api/whiteboard/sessions/{session_id}/heartbeat",
    "POST /api/whiteboard/sessions/{session_id}/disconnect",
    "GET /api/whiteboard/sessions/{session_id}/connection-status",
    "GET /api/ping",
    "GET /api/sessions",  # everyone lists (their own sessions)
}
TUTOR_OPERATIONS = {
    "GET /api/tutor/sessions/{session_id}/attendance-suggestion",
    "PUT /api/tutor/sessions/{session_id}/attendance",
    "GET /api/tutor/sessions/{session_id}/attendance-history",
}


@pytest.fixture(autouse=True)
def _requests_stay_in_the_test_transaction():
    """As Django's test client does: the WSGI app must not close the connection that holds the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _aimed_bearer_headers(user, *, tutor, student, expect_success_on: set[str]):
    """Bearer headers for `user`, with generated ids aimed at a running and an ended session of theirs.

    Afterwards (schemathesis sets fixtures up per operation): the operation, if in `expect_success_on`,
    answered 2xx at least once, so its happy path ran and not only its 404s.
    """
    now = timezone.now()
    running = TutoringSessionFactory(
        tutor=tutor,
        student=student,
        scheduled_start=now - timedelta(minutes=30),
        scheduled_end=now + timedelta(minutes=30),
    )
    ended = TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=now - timedelta(hours=3), scheduled_end=now - timedelta(hours=2)
    )
    # Two open connections: the first for heartbeats, the second for a disconnect to close.
    connections = [presence_connect(whiteboard_id=running.whiteboard_id, user=user) for _ in range(2)]
    schemathesis_hooks.aim_at(
        whiteboard_ids=[running.whiteboard_id],
        session_ids=[running.pk, ended.pk],
        connection_ids=[str(c.connection_id) for c in connections],
    )
    _, key = token_issue(user=user, name="schemathesis")
    yield {"Authorization": f"Bearer {key}"}
    called = schemathesis_hooks.TARGETS.called
    assert called & expect_success_on <= schemathesis_hooks.TARGETS.succeeded, called


@pytest.fixture
def as_tutor(db, tutor, student):
    yield from _aimed_bearer_headers(
        tutor, tutor=tutor, student=student, expect_success_on=WHITEBOARD_OPERATIONS | TUTOR_OPERATIONS
    )


@pytest.fixture
def as_student(db, tutor, student):
    # The tutor's operations answer a student 404, whatever the id: nothing to succeed there.
    yield from _aimed_bearer_headers(student, tutor=tutor, student=student, expect_success_on=WHITEBOARD_OPERATIONS)


# Small and derandomized: the same cases on every run, well under a minute per database.
bounded = settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _call_and_validate(case, headers):
    # Throttling has its own tests (tests/test_security.py); here every example starts with fresh counters.
    cache.clear()
    case.call_and_validate(headers=headers)


@schema.parametrize()
@bounded
def test_the_api_answers_the_tutor_as_its_schema_says(case, as_tutor):
    _call_and_validate(case, as_tutor)


@schema.parametrize()
@bounded
def test_the_api_answers_the_student_as_its_schema_says(case, as_student):
    _call_and_validate(case, as_student)
