from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from rest_framework.test import APIClient

from accounts.services import token_issue
from tests.factories import TutoringSessionFactory, UserFactory

# A fixed, ordinary moment: tests never depend on when they run.
T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests are skipped, visibly and with the reason, on other databases."""
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" in engine:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://...); running on SQLite")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # The manifest storage needs collectstatic; tests render templates without it.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Production-strength PBKDF2 costs ~0.5 s per user on this machine; tests make hundreds.
    # PBKDF2 stays second so passwords hashed outside this fixture (module-scoped data) still verify.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Throttle counters live in the cache: no test may inherit another's.
    from django.core.cache import cache

    from accounts.signin import signin_refusals_forget

    cache.clear()
    signin_refusals_forget()
    yield
    cache.clear()
    signin_refusals_forget()


class Clock:
    """Server time under the test's control: `clock.at(t)`, `clock.advance(seconds)`."""

    def __init__(self, start: datetime):
        self._traveller = time_machine.travel(start, tick=False)
        self.now = start

    def at(self, moment: datetime) -> datetime:
        self.now = moment
        self._coordinates.move_to(moment)
        return moment

    def advance(self, seconds: float) -> datetime:
        return self.at(self.now + timedelta(seconds=seconds))

    def __enter__(self):
        self._coordinates = self._traveller.start()
        return self

    def __exit__(self, *exc):
        self._traveller.stop()


@pytest.fixture
def clock():
    with Clock(T0 - timedelta(minutes=30)) as c:
        yield c


# Named personas: permission tests read like sentences.
@pytest.fixture
def tutor(db):
    return UserFactory(username="tina_tutor", first_name="Tina")


@pytest.fixture
def student(db):
    return UserFactory(username="sam_student", first_name="Sam")


@pytest.fixture
def other_tutor(db):
    return UserFactory(username="otto_tutor")


@pytest.fixture
def other_student(db):
    return UserFactory(username="olga_student")


@pytest.fixture
def staff(db):
    return UserFactory(username="ada_admin", is_staff=True, is_superuser=True)


@pytest.fixture
def session(tutor, student):
    """Tina tutors Sam from T0 to T0+60 min on a whiteboard."""
    return TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=T0, scheduled_end=T0 + timedelta(hours=1)
    )


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def api():
    """`api(user)` gives an API client signed in as that user (None: anonymous)."""
    return client_for


@pytest.fixture
def bearer_client():
    def make(user):
        _, key = token_issue(user=user, name="tests")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return client

    return make


@pytest.fixture
def on_postgres():
    return connection.vendor == "postgresql"
