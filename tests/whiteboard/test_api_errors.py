"""Issue #2's error contract: every bad request is a 4xx JSON body with a stable code, and records nothing."""

import uuid

import pytest

from tests.conftest import T0
from tests.whiteboard.helpers import Tab
from whiteboard.models import Connection, WhiteboardSession

pytestmark = pytest.mark.django_db

POSTS = ["connect", "heartbeat", "disconnect"]
ALL = [*POSTS, "connection-status"]


def snapshot() -> dict:
    """Everything presence tracking records: every whiteboard row and every connection, column by column."""
    return {
        "whiteboards": list(WhiteboardSession.objects.order_by("pk").values()),
        "connections": list(Connection.objects.order_by("pk").values()),
    }


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def assert_invalid_field(response, *fields: str) -> None:
    body = assert_error(response, 400, "invalid")
    assert set(body["errors"]) == set(fields)
    assert all(isinstance(message, str) and message for field in fields for message in body["errors"][field])


@pytest.fixture
def wb(session):
    return session.whiteboard


@pytest.fixture
def student_tab(clock, api, student, wb):
    """Sam is connected and has been heard from 5 s ago: any write a bad request made would show."""
    tab = Tab(api(student), wb.pk)
    clock.at(T0)
    assert tab.connect().status_code == 200
    clock.advance(15)
    assert tab.beat().status_code == 200
    clock.advance(5)
    return tab


@pytest.fixture
def tutor_tab(clock, api, tutor, wb, student_tab):
    tab = Tab(api(tutor), wb.pk)
    assert tab.connect().status_code == 200
    clock.advance(5)
    return tab


@pytest.fixture
def post(student_tab):
    """`post(endpoint, body)` as Sam, raw JSON text or a value to encode."""

    def send(endpoint: str, body, *, raw: bool = False):
        url = f"{student_tab.base}/{endpoint}"
        if raw:
            return student_tab.client.generic("POST", url, body, content_type="application/json")
        return student_tab.client.post(url, body, format="json")

    return send


@pytest.fixture
def unchanged(tutor_tab):
    """Asserts, at the end of the test, that nothing recorded changed since the set-up."""
    before = snapshot()
    yield
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", POSTS)
@pytest.mark.parametrize("text", ['{"connection_id": ', "{'visibility': 'visible'}", "visible", "\x00"])
def test_malformed_json_is_a_400_with_code_malformed_request(post, unchanged, endpoint, text):
    assert_error(post(endpoint, text, raw=True), 400, "malformed_request")


@pytest.mark.parametrize("endpoint", POSTS)
@pytest.mark.parametrize("text", ["[]", '["visible"]', '"visible"', "42", "null", "true"])
def test_a_json_body_that_is_not_an_object_is_invalid(post, unchanged, endpoint, text):
    assert_invalid_field(post(endpoint, text, raw=True), "non_field_errors")


@pytest.mark.parametrize("endpoint", POSTS)
@pytest.mark.parametrize("value", [12345, 0, True, 1.5, ["0b7d1c52-0b5e-4a43-9d7c-3f1c2f9f1a10"], {"id": 1}])
def test_connection_id_of_the_wrong_type_is_invalid(post, student_tab, unchanged, endpoint, value):
    assert_invalid_field(post(endpoint, {"connection_id": value, "visibility": "visible"}), "connection_id")


@pytest.mark.parametrize("endpoint", POSTS)
@pytest.mark.parametrize("value", ["not-a-uuid", "", "1234", "0b7d1c52-0b5e-4a43-9d7c-3f1c2f9f1a1"])
def test_a_bad_uuid_is_invalid(post, unchanged, endpoint, value):
    assert_invalid_field(post(endpoint, {"connection_id": value, "visibility": "visible"}), "connection_id")


@pytest.mark.parametrize("endpoint", ["connect", "heartbeat"])
@pytest.mark.parametrize("value", [1, 0, True, None, ["visible"], {"state": "visible"}])
def test_visibility_of_the_wrong_type_is_invalid(post, student_tab, unchanged, endpoint, value):
    body = {"connection_id": student_tab.connection_id, "visibility": value}
    assert_invalid_field(post(endpoint, body), "visibility")


@pytest.mark.parametrize("endpoint", ["connect", "heartbeat"])
@pytest.mark.parametrize("value", ["minimized", "VISIBLE", "Hidden", " hidden", ""])
def test_unknown_visibility_is_invalid(post, student_tab, unchanged, endpoint, value):
    body = {"connection_id": student_tab.connection_id, "visibility": value}
    assert_invalid_field(post(endpoint, body), "visibility")


@pytest.mark.parametrize("endpoint", ["heartbeat", "disconnect"])
def test_connection_id_is_required_on_heartbeat_and_disconnect(post, unchanged, endpoint):
    assert_invalid_field(post(endpoint, {"visibility": "visible"}), "connection_id")


def test_an_empty_heartbeat_names_both_missing_fields(post, unchanged):
    assert_invalid_field(post("heartbeat", "", raw=True), "connection_id", "visibility")


def test_an_empty_disconnect_names_the_missing_connection_id(post, unchanged):
    assert_invalid_field(post("disconnect", "", raw=True), "connection_id")


def test_visibility_is_required_on_heartbeat(post, student_tab, unchanged):
    assert_invalid_field(post("heartbeat", {"connection_id": student_tab.connection_id}), "visibility")


@pytest.mark.parametrize("endpoint", ALL)
@pytest.mark.parametrize("offset", [1, 1000])
def test_an_unknown_whiteboard_is_404_not_found(student_tab, wb, unchanged, endpoint, offset):
    url = f"/api/whiteboard/sessions/{wb.pk + offset}/{endpoint}"
    body = {"connection_id": student_tab.connection_id, "visibility": "visible"}
    response = (
        student_tab.client.get(url)
        if endpoint == "connection-status"
        else student_tab.client.post(url, body, format="json")
    )
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize("endpoint", ALL)
def test_a_whiteboard_id_too_large_for_the_database_is_404_not_500(student_tab, unchanged, endpoint):
    url = f"/api/whiteboard/sessions/{2**64}/{endpoint}"
    body = {"connection_id": student_tab.connection_id, "visibility": "visible"}
    response = (
        student_tab.client.get(url)
        if endpoint == "connection-status"
        else student_tab.client.post(url, body, format="json")
    )
    assert_error(response, 404, "not_found")


def test_heartbeat_for_an_unknown_connection_is_404_unknown_connection(post, unchanged):
    response = post("heartbeat", {"connection_id": str(uuid.uuid4()), "visibility": "visible"})
    assert_error(response, 404, "unknown_connection")


def test_disconnect_of_an_unknown_connection_is_404_unknown_connection(post, unchanged):
    assert_error(post("disconnect", {"connection_id": str(uuid.uuid4())}), 404, "unknown_connection")


def test_heartbeat_on_a_connection_closed_by_disconnect_is_409_connection_closed(clock, student_tab, tutor_tab):
    assert student_tab.disconnect().status_code == 200
    clock.advance(5)
    before = snapshot()

    body = assert_error(student_tab.beat(), 409, "connection_closed")

    assert "connect again" in body["detail"]
    assert snapshot() == before


def test_reconnecting_with_a_closed_connection_id_is_409_connection_closed(clock, student_tab, tutor_tab):
    assert student_tab.disconnect().status_code == 200
    clock.advance(5)
    before = snapshot()

    assert_error(student_tab.connect(), 409, "connection_closed")

    assert snapshot() == before


def test_connecting_with_the_tutors_connection_id_is_409_connection_id_taken(post, tutor_tab, unchanged):
    response = post("connect", {"connection_id": tutor_tab.connection_id, "visibility": "visible"})
    assert_error(response, 409, "connection_id_taken")


def test_heartbeat_with_the_tutors_connection_id_is_404_unknown_connection(post, tutor_tab, unchanged):
    response = post("heartbeat", {"connection_id": tutor_tab.connection_id, "visibility": "visible"})
    assert_error(response, 404, "unknown_connection")


def test_disconnect_with_the_tutors_connection_id_leaves_the_tutor_connected(post, tutor_tab, unchanged):
    assert_error(post("disconnect", {"connection_id": tutor_tab.connection_id}), 404, "unknown_connection")


@pytest.mark.parametrize("endpoint", POSTS)
def test_a_form_encoded_body_is_415_unsupported_media_type(student_tab, unchanged, endpoint):
    response = student_tab.client.post(f"{student_tab.base}/{endpoint}", {"connection_id": student_tab.connection_id})
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("endpoint", POSTS)
def test_get_on_a_post_endpoint_is_405_method_not_allowed(student_tab, unchanged, endpoint):
    assert_error(student_tab.client.get(f"{student_tab.base}/{endpoint}"), 405, "method_not_allowed")


def test_a_late_heartbeat_that_times_out_keeps_the_timeout_it_recorded(clock, student_tab, wb):
    """The one 409 that does record something: the timeout it found, so the sweep does not log it again."""
    clock.advance(60)

    assert_error(student_tab.beat(), 409, "connection_closed")

    wb.refresh_from_db()
    assert [e["event"] for e in wb.connection_logs] == ["connect", "timeout"]
    assert Connection.objects.get(connection_id=student_tab.connection_id).close_reason == "timeout"


def test_the_error_fixture_would_notice_a_change(clock, student_tab, tutor_tab):
    """Guards the guard: a successful heartbeat does change the snapshot."""
    before = snapshot()
    clock.advance(1)
    assert student_tab.beat().status_code == 200
    assert snapshot() != before
