from datetime import timedelta

import pytest

from tests.conftest import T0
from tests.factories import GuardianFactory, UserFactory
from webhooks.models import EventType, WebhookEndpoint

END = T0 + timedelta(hours=1)
ALL_EVENTS = list(EventType.values)


@pytest.fixture(autouse=True)
def _webhook_settings(settings):
    # Short and small, so every branch is reached in a few attempts; the local receiver is on 127.0.0.1.
    settings.WEBHOOK_RETRY_DELAYS = [10, 20, 40]
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 6
    settings.WEBHOOK_DISABLE_AFTER_SECONDS = 600  # at least the 70 s of retries, as config/settings.py requires
    settings.WEBHOOK_TIMEOUT = 2
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    settings.WEBHOOK_REDELIVER_AFTER = 0


@pytest.fixture
def make_endpoint(db):
    def make(url="http://127.0.0.1:9/hooks", events=ALL_EVENTS, **fields):
        return WebhookEndpoint.objects.create(url=url, event_types=list(events), **fields)

    return make


@pytest.fixture
def parent(student):
    """Pam, Sam's mother."""
    user = UserFactory(username="pam_parent", first_name="Pam")
    GuardianFactory(user=user, children=[student])
    return user
