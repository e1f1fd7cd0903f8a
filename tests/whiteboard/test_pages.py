import pytest
from django.urls import reverse

from accounts.models import profile_for
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
