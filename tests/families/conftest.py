from datetime import timedelta

import pytest

from tests.conftest import T0
from tests.factories import GuardianFactory, TutoringSessionFactory, UserFactory


@pytest.fixture
def parent(student):
    """Pam, Sam's mother: a parent account linked to Sam."""
    user = UserFactory(username="pam_parent", first_name="Pam", last_name="Parent")
    GuardianFactory(user=user, children=[student])
    return user


@pytest.fixture
def other_parent(other_student):
    """Olga's father: a parent, but not Sam's."""
    user = UserFactory(username="oscar_parent", first_name="Oscar")
    GuardianFactory(user=user, children=[other_student])
    return user


@pytest.fixture
def other_session(tutor, other_student):
    """Tina tutors Olga at the same time as Sam."""
    return TutoringSessionFactory(
        tutor=tutor,
        student=other_student,
        title="Olga's physics",
        scheduled_start=T0,
        scheduled_end=T0 + timedelta(hours=1),
    )
