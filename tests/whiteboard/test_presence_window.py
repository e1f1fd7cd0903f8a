"""Presence is recorded only inside the session's presence window (PRESENCE["JOIN_WINDOW_MINUTES"] either side)."""

from datetime import timedelta

import pytest

from core.errors import DomainError
from tests.conftest import T0
from tests.whiteboard.helpers import Tab
from whiteboard.models import Connection
from whiteboard.services import presence_connect

pytestmark = pytest.mark.django_db

OPENS = T0 - timedelta(minutes=15)
CLOSES = T0 + timedelta(hours=1, minutes=15)


def nothing_recorded(session) -> bool:
    session.whiteboard.refresh_from_db()
    wb = session.whiteboard
    return not Connection.objects.exists() and wb.connection_logs == [] and wb.student_connected_at is None


def test_two_days_ahead_connect_is_409_with_when_the_board_opens_and_records_nothing(clock, api, student, session):
    clock.at(T0 - timedelta(days=2))
    response = Tab(api(student), session.whiteboard_id).connect()
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "outside_presence_window"
    assert body["opens_at"] == "2026-03-10T13:45:00Z"
    assert body["closes_at"] == "2026-03-10T15:15:00Z"
    assert "opens at 2026-03-10 13:45 UTC" in body["detail"]
    assert nothing_recorded(session)


def test_after_the_window_closed_connect_is_409_saying_it_closed(clock, api, tutor, session):
    clock.at(CLOSES)
    response = Tab(api(tutor), session.whiteboard_id).connect()
    assert response.status_code == 409
    assert response.json()["code"] == "outside_presence_window"
    assert "closed at 2026-03-10 15:15 UTC" in response.json()["detail"]
    assert nothing_recorded(session)


@pytest.mark.parametrize("moment", [OPENS, T0, CLOSES - timedelta(seconds=1)])
def test_inside_the_window_connect_is_accepted(clock, api, student, session, moment):
    clock.at(moment)
    assert Tab(api(student), session.whiteboard_id).connect().status_code == 200


def test_one_second_before_the_window_opens_is_refused(clock, api, student, session):
    clock.at(OPENS - timedelta(seconds=1))
    assert Tab(api(student), session.whiteboard_id).connect().status_code == 409


def test_the_window_follows_the_setting(settings, clock, api, student, session):
    settings.PRESENCE = {**settings.PRESENCE, "JOIN_WINDOW_MINUTES": 30}
    clock.at(T0 - timedelta(minutes=29))
    assert Tab(api(student), session.whiteboard_id).connect().status_code == 200


def test_the_service_raises_the_code_with_the_window_for_every_door(student, session):
    with pytest.raises(DomainError) as raised:
        presence_connect(whiteboard_id=session.whiteboard_id, user=student, now=T0 - timedelta(days=2))
    assert raised.value.code == "outside_presence_window"
    assert raised.value.extra == {"opens_at": OPENS, "closes_at": CLOSES}


def test_the_schema_documents_the_409_with_the_window(api, staff):
    schema = api(staff).get("/api/schema", HTTP_ACCEPT="application/json").json()
    answer = schema["paths"]["/api/whiteboard/sessions/{session_id}/connect"]["post"]["responses"]["409"]
    assert "outside_presence_window" in answer["description"]
    ref = answer["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"opens_at", "closes_at"} <= set(schema["components"]["schemas"][ref]["properties"])
