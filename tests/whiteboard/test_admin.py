"""Django admin shows presence as of now, even while steady heartbeats have not yet reached the whiteboard row."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import T0
from tests.whiteboard.helpers import Tab, beat_until

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(staff):
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def two_minutes_in(clock, api, student, session):
    clock.at(T0)
    tab = Tab(api(student), session.whiteboard_id)
    tab.connect()
    beat_until(clock, tab, T0 + timedelta(minutes=2))
    return session.whiteboard


def test_the_list_shows_live_active_seconds(admin_client, two_minutes_in):
    response = admin_client.get(reverse("admin:whiteboard_whiteboardsession_changelist"))
    assert response.status_code == 200
    row = next(r for r in response.context["cl"].result_list if r.pk == two_minutes_in.pk)
    admin = response.context["cl"].model_admin
    assert admin.student_active_seconds(row) == 120
    assert admin.tutor_active_seconds(row) == 0


def test_the_page_shows_live_presence(admin_client, two_minutes_in):
    response = admin_client.get(reverse("admin:whiteboard_whiteboardsession_change", args=[two_minutes_in.pk]))
    assert response.status_code == 200
    assert "student: connected, last activity" in response.content.decode()
    assert "120 s active (0 s hidden)" in response.content.decode()
