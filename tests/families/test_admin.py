"""The office sets parents up in Django admin (issue #6)."""

import pytest
from django.test import Client
from django.urls import reverse

from families.models import Guardian, GuardianStudent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(staff):
    client = Client()
    client.force_login(staff)
    return client


def test_admin_makes_a_user_a_parent_of_two_children(admin_client, student, other_student):
    user = UserFactory(username="new_parent")
    response = admin_client.post(
        reverse("admin:families_guardian_add"),
        {
            "user": user.pk,
            "notify_absent_or_late": "on",
            "links-TOTAL_FORMS": "2",
            "links-INITIAL_FORMS": "0",
            "links-MIN_NUM_FORMS": "0",
            "links-MAX_NUM_FORMS": "1000",
            "links-0-student": student.pk,
            "links-1-student": other_student.pk,
        },
    )
    assert response.status_code == 302, response.content.decode()
    guardian = Guardian.objects.get(user=user)
    assert set(guardian.students.all()) == {student, other_student}


def test_admin_lists_parents_with_their_children(admin_client, parent, student):
    response = admin_client.get(reverse("admin:families_guardian_changelist"), {"q": student.username})
    content = response.content.decode()
    assert response.status_code == 200
    assert "pam_parent" in content
    assert student.get_full_name() in content


def test_admin_cannot_link_a_child_twice(admin_client, parent, student):
    guardian = Guardian.objects.get(user=parent)
    link = GuardianStudent.objects.get(guardian=guardian)
    response = admin_client.post(
        reverse("admin:families_guardian_change", args=[guardian.pk]),
        {
            "notify_absent_or_late": "on",
            "links-TOTAL_FORMS": "2",
            "links-INITIAL_FORMS": "1",
            "links-MIN_NUM_FORMS": "0",
            "links-MAX_NUM_FORMS": "1000",
            "links-0-id": link.pk,
            "links-0-guardian": guardian.pk,
            "links-0-student": student.pk,
            "links-1-student": student.pk,
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert "Please correct the duplicate data" in response.content.decode() or "already exists" in (
        response.content.decode()
    )
    assert guardian.links.count() == 1


def test_sent_notifications_are_read_only_in_admin(admin_client):
    assert admin_client.get(reverse("admin:families_sentnotification_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:families_sentnotification_add")).status_code == 403
