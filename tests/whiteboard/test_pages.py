from datetime import timedelta

import pytest
from django.urls import reverse

from accounts.models import profile_for
from tests.conftest import T0
from tests.factories import WhiteboardSessionFactory

pytestmark = pytest.mark.django_db


def page_url(session):
    return reverse("whiteboard:page", args=[session.whiteboard_id])


def signed_in(client, user):
    client.force_login(user)
    return client


def test_anonymous_visitor_is_sent_to_sign_in(client, session):
    url = page_url(session)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


@pytest.mark.parametrize("persona", ["tutor", "student"])
def test_both_participants_can_open_the_whiteboard(client, session, persona, request):
    user = request.getfixturevalue(persona)

    response = signed_in(client, user).get(page_url(session))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Algebra" in html
    assert f'data-whiteboard-id="{session.whiteboard_id}"' in html
    assert "whiteboard/attendance-tracker.js" in html


def test_each_participant_sees_the_other_one(client, session, tutor, student):
    tutor_html = signed_in(client, tutor).get(page_url(session)).content.decode()
    student_html = signed_in(client, student).get(page_url(session)).content.decode()

    assert f'data-testid="other-name">{student.get_full_name()}<' in tutor_html
    assert f'data-testid="other-name">{tutor.get_full_name()}<' in student_html


@pytest.mark.parametrize("persona", ["other_tutor", "other_student", "staff"])
def test_anyone_outside_the_session_gets_404(client, session, persona, request):
    # Staff too: opening the whiteboard would record them as a participant.
    response = signed_in(client, request.getfixturevalue(persona)).get(page_url(session))

    assert response.status_code == 404


def test_a_whiteboard_without_a_tutoring_session_is_404(client, tutor):
    orphan = WhiteboardSessionFactory()

    response = signed_in(client, tutor).get(reverse("whiteboard:page", args=[orphan.pk]))

    assert response.status_code == 404


def test_the_window_shows_in_the_business_zone_by_default(client, session, tutor, settings):
    settings.TIME_ZONE = "Europe/London"

    html = signed_in(client, tutor).get(page_url(session)).content.decode()

    # T0 is Tue 10 Mar 2026, 14:00 UTC: still GMT in London.
    assert "Tue 10 Mar, 14:00</time>\N{EN DASH}<time" in html
    assert "15:00 GMT</time>" in html


def test_the_window_shows_in_the_viewers_own_zone(client, session, student):
    profile = profile_for(student)
    profile.time_zone = "America/New_York"  # already on daylight time on 10 March 2026
    profile.save()

    html = signed_in(client, student).get(page_url(session)).content.decode()

    assert "Tue 10 Mar, 10:00</time>\N{EN DASH}<time" in html
    assert "11:00 EDT</time>" in html


def test_a_window_across_midnight_names_both_days(client, session, student):
    profile = profile_for(student)
    profile.time_zone = "Asia/Tokyo"  # 14:00 UTC is 23:00 in Tokyo
    profile.save()

    html = signed_in(client, student).get(page_url(session)).content.decode()

    assert "Tue 10 Mar, 23:00</time>\N{EN DASH}<time" in html
    assert "Wed 11 Mar, 00:00 JST</time>" in html


# --- the presence window -------------------------------------------------------------------


def test_two_days_ahead_the_page_says_when_the_board_opens_and_starts_no_tracker(client, session, student, clock):
    clock.at(T0 - timedelta(days=2))

    html = signed_in(client, student).get(page_url(session)).content.decode()

    assert 'data-window-state="before"' in html
    assert "The whiteboard opens at" in html
    assert "Tue 10 Mar, 13:45 GMT" in html  # 15 minutes before the 14:00 start
    assert f'data-opens-in="{2 * 24 * 3600 - 15 * 60}"' in html


def test_inside_the_window_the_tracker_runs(client, session, student, clock):
    clock.at(T0 - timedelta(minutes=15))

    html = signed_in(client, student).get(page_url(session)).content.decode()

    assert 'data-window-state="open"' in html
    assert "The whiteboard opens at" not in html


def test_after_the_window_the_page_says_it_closed(client, session, tutor, clock):
    clock.at(T0 + timedelta(hours=1, minutes=15))

    html = signed_in(client, tutor).get(page_url(session)).content.decode()

    assert 'data-window-state="closed"' in html
    assert "The whiteboard closed at" in html
    assert "15:15 GMT" in html
