"""Issue 14: hostile bodies get a 4xx JSON answer, never a 500 or an HTML page, and change nothing."""

import json
from datetime import timedelta

import pytest
from django.test import Client

from attendance.models import AttendanceChange, TutoringSession
from tests.conftest import T0
from whiteboard.models import Connection

pytestmark = pytest.mark.django_db

DEEP = {
    "arrays": "[" * 1000 + "]" * 1000,
    "objects": '{"a":' * 1500 + "1" + "}" * 1500,
    "unclosed, short enough for the heartbeat's fast path": "[" * 1000,
    "a million brackets": "[" * 1_000_000,
}


def assert_json_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:200]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code
    return body


def recorded():
    return (
        list(Connection.objects.order_by("pk").values()),
        list(TutoringSession.objects.order_by("pk").values()),
        AttendanceChange.objects.count(),
    )


@pytest.fixture
def connected(api, student, session, clock):
    clock.at(T0 + timedelta(minutes=5))
    client = api(student)
    assert (
        client.post(f"/api/whiteboard/sessions/{session.whiteboard_id}/connect", {}, format="json").status_code == 200
    )
    return client


@pytest.mark.parametrize("body", DEEP.values(), ids=DEEP.keys())
@pytest.mark.parametrize("action", ["connect", "heartbeat", "disconnect"])
def test_deeply_nested_json_to_the_presence_endpoints_is_a_400(action, body, connected, session):
    before = recorded()
    response = connected.post(
        f"/api/whiteboard/sessions/{session.whiteboard_id}/{action}", body, content_type="application/json"
    )
    assert_json_error(response, 400, "malformed_request")
    assert recorded() == before


@pytest.mark.parametrize("body", DEEP.values(), ids=DEEP.keys())
def test_deeply_nested_json_to_the_attendance_put_is_a_400(body, api, tutor, session, clock):
    clock.at(T0 + timedelta(minutes=30))
    before = recorded()
    response = api(tutor).put(f"/api/tutor/sessions/{session.pk}/attendance", body, content_type="application/json")
    assert_json_error(response, 400, "malformed_request")
    assert recorded() == before


@pytest.mark.parametrize(
    "path",
    [
        "/api/whiteboard/sessions/{wb}/connect",
        "/api/whiteboard/sessions/{wb}/heartbeat",
        "/api/tutor/sessions/{s}/attendance",
        "/api/nowhere",
    ],
)
def test_a_10_mb_body_is_a_413_naming_the_limit(path, connected, api, tutor, session, settings):
    before = recorded()
    body = '{"notes": "' + "x" * 10_000_000 + '"}'
    url = path.format(wb=session.whiteboard_id, s=session.pk)
    client = api(tutor) if "tutor" in url else connected
    response = client.generic("PUT" if "attendance" in url else "POST", url, body, content_type="application/json")
    if url == "/api/nowhere":
        assert_json_error(response, 404, "not_found")  # no route: refused before the body is read
        return
    body = assert_json_error(response, 413, "request_too_large")
    assert str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in body["detail"]
    assert recorded() == before


def test_what_django_refuses_before_any_view_is_json_on_the_api_and_html_on_pages(db):
    api = Client(HTTP_HOST="evil.example").get("/api/ping")  # not in ALLOWED_HOSTS: SuspiciousOperation
    assert_json_error(api, 400, "malformed_request")
    page = Client(HTTP_HOST="evil.example").get("/accounts/login/")
    assert page.status_code == 400
    assert page["Content-Type"].startswith("text/html")


def test_a_csrf_failure_outside_drf_is_json_on_the_api(rf):
    from config.views import csrf_failure

    response = csrf_failure(rf.post("/api/anything"), reason="CSRF cookie not set.")
    assert response.status_code == 403
    assert json.loads(response.content)["code"] == "csrf_failed"
    assert csrf_failure(rf.post("/accounts/login/"), reason="x")["Content-Type"].startswith("text/html")
