"""Issue 14: every API endpoint has a per-user rate limit that fits its use; beyond it, 429 with Retry-After."""

from datetime import timedelta

import pytest

from tests.conftest import T0

pytestmark = pytest.mark.django_db

# (scope, method, path, who, body)
ENDPOINTS = [
    ("disconnect", "post", "/api/whiteboard/sessions/{wb}/disconnect", "student", "disconnect"),
    ("connection-status", "get", "/api/whiteboard/sessions/{wb}/connection-status", "student", None),
    ("attendance-suggestion", "get", "/api/tutor/sessions/{s}/attendance-suggestion", "tutor", None),
    ("attendance-mark", "put", "/api/tutor/sessions/{s}/attendance", "tutor", {"student_attendance_status": "present"}),
    ("attendance-history", "get", "/api/tutor/sessions/{s}/attendance-history", "tutor", None),
    ("api", "get", "/api/ping", "tutor", None),
]


@pytest.mark.parametrize(("scope", "method", "path", "who", "body"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_each_endpoint_is_throttled_per_user(scope, method, path, who, body, request, api, session, settings, clock):
    clock.at(T0 + timedelta(minutes=10, seconds=5))
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], scope: "3/min"},
    }
    user = request.getfixturevalue(who)
    client = api(user)
    url = path.format(wb=session.whiteboard_id, s=session.pk)
    if body == "disconnect":
        connected = client.post(f"/api/whiteboard/sessions/{session.whiteboard_id}/connect", {}, format="json")
        body = {"connection_id": connected.json()["connection_id"]}

    answers = [getattr(client, method)(url, body, format="json") for _ in range(3)]
    assert all(a.status_code < 400 for a in answers), [a.content for a in answers]
    refused = getattr(client, method)(url, body, format="json")
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert int(refused["Retry-After"]) == 55  # to the next minute

    other = api(request.getfixturevalue("staff"))  # per user: someone else is not affected
    assert getattr(other, method)(url, body, format="json").status_code != 429
    clock.advance(55)
    assert getattr(client, method)(url, body, format="json").status_code != 429


def test_the_schema_documents_429_for_every_operation(api, staff):
    schema = api(staff).get("/api/schema", HTTP_ACCEPT="application/json").json()
    operations = [op for item in schema["paths"].values() for m, op in item.items() if m != "parameters"]
    assert operations
    assert all("429" in op["responses"] for op in operations)
