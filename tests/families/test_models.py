"""The database keeps the families rules too (issue #6)."""

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from families.models import Guardian, GuardianStudent, SentNotification
from tests.factories import GuardianFactory

pytestmark = pytest.mark.django_db


def test_a_parent_is_linked_to_a_child_only_once(parent, student):
    guardian = Guardian.objects.get(user=parent)
    with pytest.raises(IntegrityError), transaction.atomic():
        GuardianStudent.objects.create(guardian=guardian, student=student)


def test_nobody_is_their_own_guardian(student):
    guardian = GuardianFactory(user=student)
    with pytest.raises(IntegrityError), transaction.atomic():
        GuardianStudent.objects.create(guardian=guardian, student=student)


def test_a_parent_starts_with_notifications_on(student):
    assert GuardianFactory(children=[student]).notify_absent_or_late is True


def test_a_notification_key_is_stored_once(tutor):
    row = {
        "key": "decision_digest:1:2026-03-10",
        "kind": "decision_digest",
        "recipient": tutor,
        "email": tutor.email,
        "subject": "s",
        "created_at": timezone.now(),
    }
    SentNotification.objects.create(**row)
    with pytest.raises(IntegrityError), transaction.atomic():
        SentNotification.objects.create(**row)


def test_the_database_refuses_an_unknown_notification_kind(tutor):
    with pytest.raises(IntegrityError), transaction.atomic():
        SentNotification.objects.create(
            key="k", kind="birthday", recipient=tutor, email=tutor.email, subject="s", created_at=timezone.now()
        )
