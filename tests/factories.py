from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from attendance.models import AttendanceChange, TutoringSession
from families.models import Guardian, GuardianStudent
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


class AttendanceChangeFactory(factory.django.DjangoModelFactory):
    """A history row written directly, for read-side tests (reports) that need exact known data."""

    class Meta:
        model = AttendanceChange

    session = factory.SubFactory(TutoringSessionFactory)
    changed_at = factory.LazyAttribute(lambda c: c.session.scheduled_end)
    actor = factory.LazyAttribute(lambda c: c.session.tutor)
    source = "manual"
    previous_source = "system_default"
    old_tutor_status = "present"
    new_tutor_status = factory.LazyAttribute(lambda c: c.session.tutor_attendance_status)
    old_student_status = "present"
    new_student_status = factory.LazyAttribute(lambda c: c.session.student_attendance_status)
    suggestion = None


class GuardianFactory(factory.django.DjangoModelFactory):
    """A parent: `GuardianFactory(user=..., children=[student, ...])`."""

    class Meta:
        model = Guardian
        django_get_or_create = ["user"]
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)

    @factory.post_generation
    def children(self, create, extracted, **kwargs):
        for child in extracted or ():
            GuardianStudent.objects.get_or_create(guardian=self, student=child)
