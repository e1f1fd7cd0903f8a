"""Who may do what to which session: every endpoint and page, for every persona (issue #5).

Someone outside a session gets 404 for it, with no hint that it exists. The bearer-token
client holds a token of the session's tutor: the API treats it as the tutor, pages do not
accept tokens (they need a signed-in browser).
"""

import uuid
from datetime import timedelta

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.services import token_issue
from tests.conftest import T0
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

END = T0 + timedelta(hours=1)
PERSONAS = ["anonymous", "student", "other_student", "tutor", "other_tutor", "staff", "bearer"]
PARTICIPANTS = {"student", "tutor", "bearer"}


def _user(persona, world):
    return {"bearer": world["tutor"]}.get(persona, world.get(persona))


def _client(persona, world, *, api: bool):
    if persona == "bearer":
        client = APIClient() if api else Client()
        _, key = token_issue(user=world["tutor"], name="matrix")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}") if api else None
        if not api:
            client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {key}"
        return client
    client = APIClient() if api else Client()
    if persona != "anonymous":
        client.force_login(world[persona])
    return client


def _connection_id(persona, world, client):
    """Participants beat/disconnect their own connection; everyone else tries a made-up one."""
    if persona not in PARTICIPANTS:
        return str(uuid.uuid4())
    response = client.post(f"/api/whiteboard/sessions/{world['session'].whiteboard_id}/connect", {}, format="json")
    return response.json()["connection_id"]


@pytest.fixture
def world(session, tutor, student, other_tutor, other_student, staff, clock):
    clock.at(END + timedelta(minutes=1))  # after the session: marking and accepting are allowed
    return {
        "session": session,
        "tutor": tutor,
        "student": student,
        "other_tutor": other_tutor,
        "other_student": other_student,
        "staff": staff,
    }


# expected status per persona, in PERSONAS order
API = {
    "connect": ("post", "wb", "connect", [401, 200, 404, 200, 404, 404, 200]),
    "heartbeat": ("post", "wb", "heartbeat", [401, 200, 404, 200, 404, 404, 200]),
    "disconnect": ("post", "wb", "disconnect", [401, 200, 404, 200, 404, 404, 200]),
    "connection-status": ("get", "wb", "connection-status", [401, 200, 404, 200, 404, 200, 200]),
    "attendance-suggestion": ("get", "session", "attendance-suggestion", [401, 404, 404, 200, 404, 200, 200]),
    "attendance": ("put", "session", "attendance", [401, 404, 404, 200, 404, 200, 200]),
    "attendance-history": ("get", "session", "attendance-history", [401, 404, 404, 200, 404, 200, 200]),
    # A list: everyone signed in gets 200, with only what they may see (test_the_session_list_shows_...).
    "sessions-list": ("get", "list", "", [401, 200, 200, 200, 200, 200, 200]),
}


@pytest.mark.parametrize("endpoint", API)
@pytest.mark.parametrize("persona", PERSONAS)
def test_api_endpoint(world, endpoint, persona):
    method, kind, suffix, expected = API[endpoint]
    session = world["session"]
    client = _client(persona, world, api=True)
    if kind == "wb":
        url = f"/api/whiteboard/sessions/{session.whiteboard_id}/{suffix}"
    elif kind == "list":
        url = "/api/sessions"
    else:
        url = f"/api/tutor/sessions/{session.pk}/{suffix}"
    body = {}
    if endpoint in ("heartbeat", "disconnect"):
        body = {"connection_id": _connection_id(persona, world, client), "visibility": "visible"}
    if endpoint == "attendance":
        body = {"student_attendance_status": "absent", "notes": "matrix"}
    response = getattr(client, method)(url, body, format="json")
    assert response.status_code == expected[PERSONAS.index(persona)], response.content
    assert response["Content-Type"].startswith("application/json")


def test_api_404_for_outsiders_is_the_same_as_for_a_session_that_does_not_exist(world):
    client = _client("other_tutor", world, api=True)
    real = client.get(f"/api/tutor/sessions/{world['session'].pk}/attendance-suggestion")
    missing = client.get("/api/tutor/sessions/999999/attendance-suggestion")
    assert real.status_code == missing.status_code == 404
    assert real.json() == missing.json()


# Which personas find the session in `GET /api/sessions` (with the suggestion asked for).
LISTED = {"student": True, "other_student": False, "tutor": True, "other_tutor": False, "staff": True, "bearer": True}
SUGGESTED = {"student": False, "tutor": True, "staff": True, "bearer": True}


@pytest.mark.parametrize("persona", PERSONAS[1:])
def test_the_session_list_shows_a_session_only_to_its_participants_and_staff(world, persona):
    response = _client(persona, world, api=True).get("/api/sessions", {"include": "suggestion"})
    rows = {row["id"]: row for row in response.json()["results"]}
    assert (world["session"].pk in rows) is LISTED[persona]
    if LISTED[persona]:
        assert (rows[world["session"].pk]["suggestion"] is not None) is SUGGESTED[persona]


def test_ping_needs_authentication(world):
    assert _client("anonymous", world, api=True).get("/api/ping").status_code == 401
    for persona in PERSONAS[1:]:
        response = _client(persona, world, api=True).get("/api/ping")
        assert response.json()["user_id"] == _user(persona, world).pk


def test_a_token_of_someone_outside_the_session_gets_404(world):
    client = APIClient()
    _, key = token_issue(user=UserFactory(), name="integration")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    session = world["session"]
    assert client.get(f"/api/tutor/sessions/{session.pk}/attendance-suggestion").status_code == 404
    assert (
        client.post(f"/api/whiteboard/sessions/{session.whiteboard_id}/connect", {}, format="json").status_code == 404
    )


# Pages: anonymous and token-only clients are sent to sign in (302 to the login page).
PAGES = {
    "home": ("get", "/", [302, 200, 200, 200, 200, 200, 302]),
    "session": ("get", "/sessions/{s}/", [302, 404, 404, 200, 404, 200, 302]),
    "mark": ("post", "/sessions/{s}/mark", [302, 404, 404, 302, 404, 302, 302]),
    "accept": ("post", "/sessions/{s}/accept", [302, 404, 404, 302, 404, 302, 302]),
    # After the session: the tutor is refused with a form error (400), staff too (only the tutor may).
    "cancel": ("post", "/sessions/{s}/cancel", [302, 404, 404, 400, 404, 400, 302]),
    "move": ("post", "/sessions/{s}/move", [302, 404, 404, 400, 404, 400, 302]),
    # Nothing decided yet: nothing to contest (400); staff settle in admin instead (400 too).
    "dispute": ("post", "/sessions/{s}/dispute", [302, 404, 404, 400, 404, 400, 302]),
    "whiteboard": ("get", "/whiteboard/{w}/", [302, 200, 404, 200, 404, 404, 302]),
    "settings": ("get", "/accounts/settings/", [302, 200, 200, 200, 200, 200, 302]),
    "admin": ("get", "/admin/attendance/tutoringsession/", [302, 302, 302, 302, 302, 200, 302]),
}


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("persona", PERSONAS)
def test_page(world, page, persona):
    method, path, expected = PAGES[page]
    session = world["session"]
    url = path.format(s=session.pk, w=session.whiteboard_id)
    client = _client(persona, world, api=False)
    data = {"tutor_status": "present", "student_status": "absent", "notes": "matrix"} if page == "mark" else {}
    if page == "accept":
        data = {"notes": "matrix"}
    if page in ("cancel", "move", "dispute"):
        data = {"reason": "matrix", "note": "matrix", "start": "2030-01-01T10:00", "end": "2030-01-01T11:00"}
    response = getattr(client, method)(url, data)
    assert response.status_code == expected[PERSONAS.index(persona)]
    if response.status_code == 302 and expected[0] == 302 and persona in ("anonymous", "bearer"):
        assert "login" in response.url


# --- Parents (issue #6) ----------------------------------------------------------------------------
# "parent" is the session's student's parent, "other_parent" a parent of another student. To the API
# and the tutors' pages both are outsiders; the family pages are theirs alone, each for their own child.
PARENT_PERSONAS = ["parent", "other_parent"]


@pytest.fixture
def families(world, student, other_student):
    from tests.factories import GuardianFactory

    parent = UserFactory(username="pam_parent")
    GuardianFactory(user=parent, children=[student])
    other_parent = UserFactory(username="oscar_parent")
    GuardianFactory(user=other_parent, children=[other_student])
    return {**world, "parent": parent, "other_parent": other_parent}


@pytest.mark.parametrize("endpoint", API)
@pytest.mark.parametrize("persona", PARENT_PERSONAS)
def test_api_endpoint_for_parents(families, endpoint, persona):
    method, kind, suffix, _ = API[endpoint]
    session = families["session"]
    client = _client(persona, families, api=True)
    if kind == "wb":
        url = f"/api/whiteboard/sessions/{session.whiteboard_id}/{suffix}"
    elif kind == "list":
        url = "/api/sessions"
    else:
        url = f"/api/tutor/sessions/{session.pk}/{suffix}"
    body = {"connection_id": str(uuid.uuid4()), "visibility": "visible", "student_attendance_status": "absent"}
    response = getattr(client, method)(url, body, format="json")
    if kind == "list":  # parents list nothing through the API (their door is the family pages)
        assert response.status_code == 200 and response.json()["results"] == []
        return
    assert response.status_code == 404, response.content


# expected status per parent persona, in PARENT_PERSONAS order; a parent's "/" is their family page
PARENT_PAGES = {
    "home": [302, 302],
    "session": [404, 404],
    "mark": [404, 404],
    "accept": [404, 404],
    "cancel": [404, 404],
    "move": [404, 404],
    "dispute": [404, 404],
    "whiteboard": [404, 404],
    "settings": [200, 200],
    "admin": [302, 302],
}


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("persona", PARENT_PERSONAS)
def test_page_for_parents(families, page, persona):
    method, path, _ = PAGES[page]
    session = families["session"]
    client = _client(persona, families, api=False)
    data = {"tutor_status": "present", "student_status": "absent", "notes": "matrix"}
    response = getattr(client, method)(path.format(s=session.pk, w=session.whiteboard_id), data)
    assert response.status_code == PARENT_PAGES[page][PARENT_PERSONAS.index(persona)]
    if page == "home":
        assert response.url == "/family/"
    session.refresh_from_db()
    assert session.attendance_source == "system_default"


# expected status per persona, in PERSONAS + PARENT_PERSONAS order. The world is after the
# session, so the parent's own report and withdrawal are refused with a form error (400).
FAMILY_PAGES = {
    "family": ("get", "/family/", [302, 404, 404, 404, 404, 404, 302, 200, 200]),
    "family-session": ("get", "/family/sessions/{s}/", [302, 404, 404, 404, 404, 404, 302, 200, 404]),
    "family-report": ("post", "/family/sessions/{s}/report", [302, 404, 404, 404, 404, 404, 302, 400, 404]),
    "family-withdraw": ("post", "/family/sessions/{s}/withdraw", [302, 404, 404, 404, 404, 404, 302, 400, 404]),
    # Nothing decided yet: nothing to contest (400 for the parent).
    "family-dispute": ("post", "/family/sessions/{s}/dispute", [302, 404, 404, 404, 404, 404, 302, 400, 404]),
    "family-notifications": ("post", "/family/notifications", [302, 404, 404, 404, 404, 404, 302, 302, 302]),
}


@pytest.mark.parametrize("page", FAMILY_PAGES)
@pytest.mark.parametrize("persona", PERSONAS + PARENT_PERSONAS)
def test_family_page(families, page, persona):
    method, path, expected = FAMILY_PAGES[page]
    session = families["session"]
    client = _client(persona, families, api=False)
    response = getattr(client, method)(path.format(s=session.pk), {"reason": "matrix", "note": "matrix"})
    assert response.status_code == expected[(PERSONAS + PARENT_PERSONAS).index(persona)]
    if persona in ("anonymous", "bearer"):
        assert "login" in response.url
    session.refresh_from_db()
    assert session.attendance_source == "system_default"
