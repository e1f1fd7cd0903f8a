"""Who may reach the four whiteboard endpoints, and how they prove who they are."""

import uuid

import pytest
from django.db.models import Max
from rest_framework.test import APIClient

from accounts.services import token_issue, token_revoke
from attendance.models import TutoringSession
from tests.conftest import T0
from tests.factories import TutoringSessionFactory, WhiteboardSessionFactory
from tests.whiteboard.helpers import Tab
from whiteboard.models import Connection, WhiteboardSession

pytestmark = pytest.mark.django_db

POSTS = ["connect", "heartbeat", "disconnect"]
ALL = [*POSTS, "connection-status"]


@pytest.fixture
def wb(session):
    return session.whiteboard


@pytest.fixture
def sams_tab(clock, api, student, wb):
    """Sam is connected: outsiders who try his connection id must not reach it."""
    clock.at(T0)
    tab = Tab(api(student), wb.pk)
    assert tab.connect().status_code == 200
    clock.advance(10)
    return tab


def call(client, whiteboard_id: int, endpoint: str, connection_id: str | None = None):
    url = f"/api/whiteboard/sessions/{whiteboard_id}/{endpoint}"
    if endpoint == "connection-status":
        return client.get(url)
    body = {"connection_id": connection_id or str(uuid.uuid4()), "visibility": "visible"}
    return client.post(url, body, format="json")


def recorded() -> dict:
    return {
        "whiteboards": list(WhiteboardSession.objects.order_by("pk").values()),
        "connections": list(Connection.objects.order_by("pk").values()),
    }


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == code
    assert response.json()["detail"]


# --- who may reach a whiteboard -------------------------------------------------------


@pytest.mark.parametrize("endpoint", ALL)
def test_anonymous_gets_401_json_and_a_bearer_challenge(sams_tab, wb, endpoint):
    before = recorded()
    response = call(APIClient(), wb.pk, endpoint, sams_tab.connection_id)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert recorded() == before


@pytest.mark.parametrize("outsider", ["other_tutor", "other_student"])
@pytest.mark.parametrize("endpoint", ALL)
def test_someone_outside_the_session_gets_404_as_if_it_did_not_exist(request, api, sams_tab, wb, outsider, endpoint):
    before = recorded()
    response = call(api(request.getfixturevalue(outsider)), wb.pk, endpoint, sams_tab.connection_id)
    assert_error(response, 404, "not_found")
    assert recorded() == before


def test_the_tutor_of_another_session_of_the_same_student_is_still_an_outsider(api, other_tutor, student, sams_tab, wb):
    TutoringSessionFactory(tutor=other_tutor, student=student)
    for endpoint in ALL:
        assert_error(call(api(other_tutor), wb.pk, endpoint, sams_tab.connection_id), 404, "not_found")


def test_staff_may_read_connection_status(api, staff, sams_tab, wb):
    response = call(api(staff), wb.pk, "connection-status")
    assert response.status_code == 200
    assert response.json()["student"]["connected"] is True
    assert response.json()["whiteboard_id"] == wb.pk


@pytest.mark.parametrize("endpoint", POSTS)
def test_staff_are_not_participants_so_connect_heartbeat_and_disconnect_are_404(api, staff, sams_tab, wb, endpoint):
    before = recorded()
    assert_error(call(api(staff), wb.pk, endpoint, sams_tab.connection_id), 404, "not_found")
    assert recorded() == before


@pytest.mark.parametrize(("persona", "role"), [("tutor", "tutor"), ("student", "student")])
def test_the_role_comes_from_who_is_signed_in(request, clock, api, wb, persona, role):
    user = request.getfixturevalue(persona)
    response = api(user).post(f"/api/whiteboard/sessions/{wb.pk}/connect", {}, format="json")
    assert response.status_code == 200
    assert response.json()["role"] == role
    assert Connection.objects.get().role == role


def test_a_role_claimed_in_the_body_is_ignored(clock, api, student, wb):
    body = {"role": "tutor", "user_id": 1, "visibility": "visible"}
    response = api(student).post(f"/api/whiteboard/sessions/{wb.pk}/connect", body, format="json")
    assert response.json()["role"] == "student"
    wb.refresh_from_db()
    assert wb.student_connected_at is not None
    assert wb.tutor_connected_at is None


@pytest.fixture
def in_person(other_tutor, other_student, wb):
    """Otto teaches Olga in person. Its id is also the id of a whiteboard nobody uses, to tempt a lookup by id."""
    free_id = 1 + max(wb.pk, TutoringSession.objects.aggregate(top=Max("pk"))["top"])
    WhiteboardSessionFactory(pk=free_id)
    return TutoringSessionFactory(pk=free_id, tutor=other_tutor, student=other_student, whiteboard=None)


@pytest.mark.parametrize("persona", ["other_tutor", "other_student"])
@pytest.mark.parametrize("endpoint", ALL)
def test_a_session_without_a_whiteboard_cannot_be_reached(request, clock, api, in_person, persona, endpoint):
    before = recorded()
    assert_error(call(api(request.getfixturevalue(persona)), in_person.pk, endpoint), 404, "not_found")
    assert recorded() == before


@pytest.mark.parametrize("persona", ["tutor", "student"])
def test_a_whiteboard_used_by_no_session_cannot_be_joined(request, clock, api, persona):
    orphan = WhiteboardSessionFactory()
    assert_error(call(api(request.getfixturevalue(persona)), orphan.pk, "connect"), 404, "not_found")
    assert not Connection.objects.exists()


# --- bearer tokens ----------------------------------------------------------------------


def test_a_bearer_token_authenticates_as_its_user(clock, bearer_client, student, wb):
    client = bearer_client(student)
    connect = client.post(f"/api/whiteboard/sessions/{wb.pk}/connect", {}, format="json")
    assert connect.status_code == 200
    assert connect.json()["role"] == "student"
    assert client.get(f"/api/whiteboard/sessions/{wb.pk}/connection-status").status_code == 200


def test_bearer_requests_need_no_csrf_token(clock, student, wb):
    _, key = token_issue(user=student, name="whiteboard app")
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.post(f"/api/whiteboard/sessions/{wb.pk}/connect", {}, format="json").status_code == 200


def test_a_revoked_token_is_401(clock, student, wb):
    token, key = token_issue(user=student, name="old laptop")
    token_revoke(token=token)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert_error(
        client.post(f"/api/whiteboard/sessions/{wb.pk}/connect", {}, format="json"), 401, "authentication_failed"
    )
    assert not Connection.objects.exists()


def test_a_token_of_a_deactivated_user_is_401(clock, student, wb):
    _, key = token_issue(user=student, name="tablet")
    student.is_active = False
    student.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert_error(client.get(f"/api/whiteboard/sessions/{wb.pk}/connection-status"), 401, "authentication_failed")


@pytest.mark.parametrize(
    "header",
    ["Bearer att_not-a-real-token", "Bearer ", "Bearer two parts", "bearer \u00e9\u00e9", "Bearer " + "x" * 5000],
)
def test_a_garbage_bearer_token_is_401(clock, wb, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.post(f"/api/whiteboard/sessions/{wb.pk}/connect", {}, format="json")
    assert_error(response, 401, "authentication_failed")
    assert not Connection.objects.exists()


def test_a_valid_token_of_someone_outside_the_session_is_404(clock, bearer_client, other_student, wb):
    response = bearer_client(other_student).post(f"/api/whiteboard/sessions/{wb.pk}/connect", {}, format="json")
    assert_error(response, 404, "not_found")


# --- browser sessions and CSRF --------------------------------------------------------


@pytest.fixture
def browser(student):
    """Sam signed in through the Django session, with CSRF enforced as in a real browser."""
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username=student.username, password="pass-for-tests-123")
    # A Django page hands out the CSRF cookie, as the app's pages do before the whiteboard script runs.
    assert client.get("/admin/login/").status_code == 200
    assert client.cookies["csrftoken"].value
    return client


@pytest.mark.parametrize("endpoint", POSTS)
def test_a_browser_post_without_the_csrf_header_is_403_json(clock, browser, sams_tab, wb, endpoint):
    before = recorded()
    response = call(browser, wb.pk, endpoint, sams_tab.connection_id)
    assert_error(response, 403, "permission_denied")
    assert "CSRF" in response.json()["detail"]
    assert recorded() == before


def test_a_browser_post_with_the_token_from_the_csrf_cookie_is_accepted(clock, browser, wb):
    response = browser.post(
        f"/api/whiteboard/sessions/{wb.pk}/connect",
        {"visibility": "visible"},
        format="json",
        HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value,
    )
    assert response.status_code == 200, response.content
    assert response.json()["role"] == "student"


def test_a_browser_post_with_a_wrong_csrf_token_is_403(clock, browser, wb):
    response = browser.post(f"/api/whiteboard/sessions/{wb.pk}/connect", {}, format="json", HTTP_X_CSRFTOKEN="x" * 32)
    assert_error(response, 403, "permission_denied")


def test_a_browser_may_read_connection_status_without_a_csrf_token(browser, wb):
    assert browser.get(f"/api/whiteboard/sessions/{wb.pk}/connection-status").status_code == 200


# --- throttles, per action -------------------------------------------------------------


def test_connect_is_throttled_per_user_and_the_other_actions_are_not(clock, api, student, tutor, wb, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "connect": "2/min"},
    }
    clock.at(T0)
    sam, tina = api(student), api(tutor)
    tabs = [Tab(sam, wb.pk) for _ in range(3)]
    assert [tab.connect().status_code for tab in tabs] == [200, 200, 429]
    response = tabs[2].connect()
    assert_error(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 60
    assert Connection.objects.filter(user=student).count() == 2
    assert Tab(tina, wb.pk).connect().status_code == 200  # another user's own count
    for _ in range(3):  # disconnect and connection-status have no throttle
        assert tabs[0].disconnect().status_code == 200
        assert call(sam, wb.pk, "connection-status").status_code == 200
