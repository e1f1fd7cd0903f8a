import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Profile, profile_for
from tests.conftest import T0

pytestmark = pytest.mark.django_db

SETTINGS_URL = "/accounts/settings/"


def test_sign_in_page_has_labelled_fields(client):
    response = client.get("/accounts/login/")

    html = response.content.decode()
    assert response.status_code == 200
    assert '<label for="id_username">' in html
    assert '<label for="id_password">' in html


def test_wrong_password_shows_a_form_error(client, tutor):
    response = client.post("/accounts/login/", {"username": tutor.username, "password": "wrong"})

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_sign_in_goes_to_the_page_asked_for(client, tutor):
    response = client.post(
        "/accounts/login/",
        {"username": tutor.username, "password": "pass-for-tests-123", "next": SETTINGS_URL},
    )

    assert response.status_code == 302
    assert response["Location"] == SETTINGS_URL
    assert client.session["_auth_user_id"] == str(tutor.pk)


def test_sign_out_needs_a_post_and_ends_the_session(client, tutor):
    client.force_login(tutor)

    assert client.get("/accounts/logout/").status_code == 405
    response = client.post("/accounts/logout/", follow=True)

    assert response.redirect_chain[-1][0] == reverse("login")
    assert "_auth_user_id" not in client.session
    assert "You have been signed out." in response.content.decode()


def test_settings_need_a_signed_in_user(client):
    response = client.get(SETTINGS_URL)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={SETTINGS_URL}"


def test_profile_is_created_once_on_first_need(tutor):
    assert not Profile.objects.filter(user=tutor).exists()

    first = profile_for(tutor)
    second = profile_for(tutor)

    assert first.pk == second.pk
    assert first.time_zone == ""  # the business's zone


def test_choosing_a_zone_saves_it_and_redirects(client, student):
    client.force_login(student)

    response = client.post(SETTINGS_URL, {"time_zone": "America/New_York"})

    assert response.status_code == 302
    assert response["Location"] == SETTINGS_URL
    assert profile_for(student).time_zone == "America/New_York"


def test_an_unknown_zone_is_a_form_error_and_changes_nothing(client, student):
    profile = profile_for(student)
    profile.time_zone = "Asia/Tokyo"
    profile.save()
    client.force_login(student)

    response = client.post(SETTINGS_URL, {"time_zone": "Mars/Olympus_Mons"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "is not a known time zone" in html
    assert 'aria-invalid="true"' in html
    profile.refresh_from_db()
    assert profile.time_zone == "Asia/Tokyo"


def test_the_model_rejects_an_unknown_zone_too(student):
    profile = Profile(user=student, time_zone="Europe/Atlantis")

    with pytest.raises(ValidationError) as error:
        profile.full_clean()

    assert "time_zone" in error.value.message_dict


def test_the_top_bar_names_the_viewers_zone(client, student, settings):
    settings.TIME_ZONE = "Europe/London"
    client.force_login(student)
    assert "Europe/London" in client.get(SETTINGS_URL).content.decode()

    client.post(SETTINGS_URL, {"time_zone": "Australia/Sydney"})

    assert "Australia/Sydney" in client.get(SETTINGS_URL).content.decode()


def test_settings_show_the_time_now_in_the_chosen_zone(client, student, clock):
    clock.at(T0)  # Tue 10 Mar 2026, 14:00 UTC
    profile = profile_for(student)
    profile.time_zone = "Asia/Kolkata"
    profile.save()
    client.force_login(student)

    html = client.get(SETTINGS_URL).content.decode()

    assert "Tue 10 Mar, 19:30 IST" in html


def test_one_viewers_zone_does_not_leak_into_the_next_request(client, student, settings):
    profile = profile_for(student)
    profile.time_zone = "Pacific/Auckland"
    profile.save()
    client.force_login(student)

    client.get(SETTINGS_URL)

    # The test client runs requests on this thread, as a server thread would run the next one.
    assert timezone.get_current_timezone_name() == settings.TIME_ZONE


def test_api_requests_skip_the_zone_lookup(client, student, session):
    profile = profile_for(student)
    profile.time_zone = "Asia/Tokyo"
    profile.save()
    client.force_login(student)
    url = reverse("whiteboard-api:connection-status", args=[session.whiteboard_id])

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)

    assert response.status_code == 200
    assert not any("profiles" in query["sql"] for query in queries.captured_queries)
    # The JSON is the same for every client, whatever their display zone.
    assert not response.json()["server_time"].endswith("+09:00")
