"""attendance-tracker.js against the real API, with the network bent by Playwright where a test needs it."""

import json

import pytest
from django.urls import reverse
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_whiteboard(page, session):
    page.goto(reverse("whiteboard:page", args=[session.whiteboard_id]))
    expect(page.locator("#connection-badge")).to_have_text("Connected")
    return page.evaluate("window.whiteboardTracker.connectionId")


def next_request(page, path_end):
    """The next request whose URL ends with `path_end`, once it is sent."""
    with page.expect_request(lambda r: r.url.endswith(path_end)) as info:
        pass
    return info.value


def answer(status, code):
    return {"status": status, "content_type": "application/json", "body": json.dumps({"code": code, "detail": code})}


def test_a_connection_the_server_closed_is_replaced_by_a_new_one(session, student_page):
    first_id = open_whiteboard(student_page, session)
    student_page.route("**/heartbeat", lambda route: route.fulfill(**answer(409, "connection_closed")), times=1)

    connect = next_request(student_page, "/connect")

    second_id = connect.post_data_json["connection_id"]
    assert second_id != first_id
    expect(student_page.locator("#connection-badge")).to_have_text("Connected")
    assert next_request(student_page, "/heartbeat").post_data_json["connection_id"] == second_id


def test_server_errors_are_retried_with_backoff_on_the_same_connection(session, student_page):
    connection_id = open_whiteboard(student_page, session)
    student_page.route("**/heartbeat", lambda route: route.fulfill(**answer(503, "service_unavailable")), times=2)

    badge = student_page.locator("#connection-badge")
    expect(badge).to_have_text("Reconnecting…")
    expect(badge).to_have_text("Connected")

    assert student_page.evaluate("window.whiteboardTracker.connectionId") == connection_id


def test_network_errors_are_retried_too(session, student_page):
    open_whiteboard(student_page, session)
    student_page.route("**/heartbeat", lambda route: route.abort("internetdisconnected"), times=1)

    badge = student_page.locator("#connection-badge")
    expect(badge).to_have_text("Reconnecting…")
    expect(badge).to_have_text("Connected")


def test_a_signed_out_tracker_stops_and_says_so(session, student_page):
    open_whiteboard(student_page, session)
    beats = []
    student_page.route(
        "**/heartbeat", lambda route: (beats.append(1), route.fulfill(**answer(403, "not_authenticated")))
    )

    expect(student_page.locator("#connection-badge")).to_have_text("Offline: sign in again")
    assert student_page.evaluate("window.whiteboardTracker.state") == "offline"
    with pytest.raises(PlaywrightTimeout):  # two heartbeat intervals pass in silence
        student_page.wait_for_event("request", lambda r: r.url.endswith("/heartbeat"), timeout=2_500)
    assert len(beats) == 1


def test_a_hidden_tab_says_so_at_once(session, student_page):
    connection_id = open_whiteboard(student_page, session)

    with student_page.expect_request(lambda r: r.url.endswith("/heartbeat")) as info:
        student_page.evaluate("""() => {
            Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
            document.dispatchEvent(new Event("visibilitychange"));
        }""")

    assert info.value.post_data_json == {"connection_id": connection_id, "visibility": "hidden"}


def test_requests_carry_the_csrf_token_and_no_client_clock(session, student_page):
    open_whiteboard(student_page, session)

    beat = next_request(student_page, "/heartbeat")

    assert beat.headers["x-csrftoken"]
    assert beat.headers["content-type"] == "application/json"
    assert set(beat.post_data_json) == {"connection_id", "visibility"}


def test_heartbeats_keep_going_without_workers(session, student_page):
    student_page.add_init_script("delete window.Worker;")
    connection_id = open_whiteboard(student_page, session)

    assert next_request(student_page, "/heartbeat").post_data_json["connection_id"] == connection_id
