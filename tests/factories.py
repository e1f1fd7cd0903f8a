from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from attendance.models import TutoringSession
from whiteboard.models import WhiteboardSession


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pass-for-tests-123")


class WhiteboardSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WhiteboardSession


class TutoringSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TutoringSession

    tutor = factory.SubFactory(UserFactory)
    student = factory.SubFactory(UserFactory)
    title = "Algebra"
    scheduled_start = factory.LazyFunction(lambda: timezone.now().replace(microsecond=0) + timedelta(hours=1))
    scheduled_end = factory.LazyAttribute(lambda s: s.scheduled_start + timedelta(hours=1))
    whiteboard = factory.SubFactory(WhiteboardSessionFactory)
