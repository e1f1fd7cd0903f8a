"""A node's batch of opening sockets (`whiteboard.sockets.presence_open_batch`): the decisions of one socket
at a time, in a few statements however many sockets open together (a reconnect storm)."""

from datetime import timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from core.errors import DomainError
from tests.conftest import T0
from tests.factories import TutoringSessionFactory, UserFactory
from tests.ws import api_token
from whiteboard.models import Connection, WhiteboardSession
from whiteboard.selectors import presence_snapshot
from whiteboard.services import presence_connect
from whiteboard.sockets import OpenRequest, presence_open_batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def running(clock):
    """Eight sessions from T0 to T0+60 min, each student connected (visible) at T0."""
    clock.at(T0)
    sessions = [TutoringSessionFactory(scheduled_start=T0, scheduled_end=T0 + timedelta(hours=1)) for _ in range(8)]
    connected = [
        presence_connect(whiteboard_id=s.whiteboard_id, user=s.student, visibility="visible") for s in sessions
    ]
    return [(s, c.connection_id, api_token(s.student)) for s, c in zip(sessions, connected, strict=True)]


def spans(session, now):
    whiteboard = WhiteboardSession.objects.get(pk=session.whiteboard_id)
    return presence_snapshot(whiteboard=whiteboard, now=now)["student"].spans


def test_sockets_resuming_together_cost_three_statements_however_many(running, clock):
    clock.advance(20)  # their node died; they are back within the 45 s timeout
    requests = [OpenRequest(s.whiteboard_id, None, token, cid, "visible") for s, cid, token in running]
    with CaptureQueriesContext(db) as queries:
        outcomes = presence_open_batch(requests=requests)
    for (session, cid, _), (user, result) in zip(running, outcomes, strict=True):
        assert user == session.student and result.connection_id == cid and result.role == "student"
        assert result.presence == {
            "tutor": {"connected": False, "hidden": False},
            "student": {"connected": True, "hidden": False},
        }
        assert len(spans(session, clock.now)) == 1  # one continuous stretch
    assert Connection.objects.count() == len(running)  # no new connection
    assert set(Connection.objects.values_list("last_signal_at", flat=True)) == {clock.now}
    if db.vendor == "postgresql":
        # The tokens, one renewal, who is here: one socket at a time took three statements each.
        assert len(queries.captured_queries) == 3, [q["sql"] for q in queries.captured_queries]


def test_each_socket_of_a_batch_is_decided_as_if_it_opened_alone(running, clock):
    (fresh, fresh_cid, fresh_token), (lapsed, lapsed_cid, lapsed_token) = running[0], running[1]
    (hidden, hidden_cid, hidden_token), (mine, mine_cid, mine_token) = running[2], running[3]
    (signed_in, signed_in_cid, _), (expired, _, _) = running[4], running[5]
    outsider = UserFactory()
    old_token = api_token(expired.student)  # issued at T0: expired by the time below
    clock.advance(44)
    presence_connect(whiteboard_id=lapsed.whiteboard_id, user=lapsed.tutor, visibility="visible")
    Connection.objects.filter(connection_id=lapsed_cid).update(expires_at=T0 + timedelta(seconds=30))
    clock.advance(1)
    from accounts.models import ApiToken

    ApiToken.objects.filter(user=expired.student).update(expires_at=clock.now)
    requests = [
        OpenRequest(fresh.whiteboard_id, None, fresh_token, fresh_cid, "visible"),  # renewed
        OpenRequest(lapsed.whiteboard_id, None, lapsed_token, lapsed_cid, "visible"),  # timed out: a new connection
        OpenRequest(hidden.whiteboard_id, None, hidden_token, hidden_cid, "hidden"),  # hidden now: the locked path
        OpenRequest(mine.whiteboard_id, None, mine_token, fresh_cid, "visible"),  # someone else's connection
        OpenRequest(signed_in.whiteboard_id, signed_in.student, None, signed_in_cid, "visible"),  # by session
        OpenRequest(expired.whiteboard_id, None, old_token, None, "visible"),  # token_expired
        OpenRequest(fresh.whiteboard_id, None, "att_not-a-token", fresh_cid, "visible"),  # bad_token
        OpenRequest(fresh.whiteboard_id, None, {"not": "a string"}, None, "visible"),  # bad_token
        OpenRequest(fresh.whiteboard_id, None, "\ud800", None, "visible"),  # bad_token (cannot be encoded)
        OpenRequest(fresh.whiteboard_id, outsider, None, None, "visible"),  # not a participant: not_found
    ]
    outcomes = presence_open_batch(requests=requests)

    user, result = outcomes[0]
    assert (user, result.connection_id) == (fresh.student, fresh_cid)
    user, result = outcomes[1]
    assert user == lapsed.student and result.connection_id != lapsed_cid
    # Its old connection ended at its last signal (T0), not when the batch found it lapsed: a real absence.
    assert [span["end"] for span in spans(lapsed, clock.now)] == [T0.isoformat(), clock.now.isoformat()]
    assert result.presence["tutor"] == {"connected": True, "hidden": False}
    user, result = outcomes[2]
    assert result.connection_id == hidden_cid and result.timeout_seconds == 150
    assert Connection.objects.get(connection_id=hidden_cid).visibility == "hidden"
    assert result.presence["student"] == {"connected": True, "hidden": True}
    user, result = outcomes[3]
    assert user == mine.student and result.connection_id not in (fresh_cid, mine_cid)  # a new one of its own
    assert Connection.objects.get(connection_id=fresh_cid).user_id == fresh.student.pk
    user, result = outcomes[4]
    assert (user, result.connection_id) == (signed_in.student, signed_in_cid)
    assert [(o.code if isinstance(o, DomainError) else o) for o in outcomes[5:]] == [
        "token_expired",
        "bad_token",
        "bad_token",
        "bad_token",
        "not_found",
    ]
    renewed = Connection.objects.get(connection_id=fresh_cid)
    assert renewed.last_signal_at == clock.now and renewed.closed_at is None
