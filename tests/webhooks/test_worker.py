"""Webhooks through a real Celery worker on Redis to a real receiver (issue 18).

Processes: the app (gunicorn), a Celery worker (`celery -A config worker`), Redis (database
TEST_REDIS_DB, emptied first) and the receiver (http.server in a thread of this process, verifying each
signature with standardwebhooks). The tutor marks the student absent over HTTP while the receiver is
down; the worker retries (delays shortened to 1 s through settings); the receiver comes up; the
delivery arrives exactly once.
"""

import json
import os
import sys
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.services import token_issue
from tests.factories import TutoringSessionFactory
from tests.families.test_worker import Worker, broker, wait_for  # noqa: F401 - broker is a fixture
from tests.live_server import LiveServer
from tests.webhook_receiver import Receiver
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = [pytest.mark.postgres, pytest.mark.processes, pytest.mark.django_db(transaction=True)]

WAIT = 30.0


@pytest.fixture
def env(broker):  # noqa: F811
    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": broker,
        "CELERY_VISIBILITY_TIMEOUT": "6",
        "WEBHOOK_RETRY_DELAYS": ",".join(["1"] * 20),
        "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",  # the receiver is on 127.0.0.1
        "WEBHOOK_TIMEOUT": "2",
        "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
    }


@pytest.fixture
def receiver():
    r = Receiver(WebhookEndpoint._meta.get_field("secret").default())
    yield r
    r.stop()


def test_receiver_down_then_up_gets_the_delivery_once_through_a_real_worker(env, receiver, tutor, student, tmp_path):
    WebhookEndpoint.objects.create(url=receiver.url, secret=receiver.secret, event_types=["attendance.marked"])
    now = timezone.now()
    session = TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=now - timedelta(hours=2), scheduled_end=now - timedelta(hours=1)
    )
    _, key = token_issue(user=tutor, name="webhook-worker-test")
    args = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork", "--concurrency=1"]
    args += ["--without-gossip", "--without-mingle", "-l", "INFO"]
    worker = Worker(args, env=env, log_path=tmp_path / "worker.log")
    try:
        worker.start()
        with LiveServer(env=env, log_path=tmp_path / "gunicorn.log", workers=1) as server:
            import http.client

            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
            conn.request(
                "PUT",
                f"/api/tutor/sessions/{session.pk}/attendance",
                body=json.dumps({"student_attendance_status": "absent"}),
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            assert response.status == 200, (response.read(), server.log()[-2000:])
            conn.close()

        failing = wait_for(
            lambda: (d := WebhookDelivery.objects.first()) is not None and d.attempts >= 2 and d,
            timeout=WAIT,
            what="two failed attempts\n" + worker.log()[-3000:],
        )
        assert failing.status == "pending"
        assert "refused" in failing.last_error.lower()

        receiver.start()  # up, same port
        delivered = wait_for(
            lambda: WebhookDelivery.objects.filter(status="delivered").first(),
            timeout=WAIT,
            what="the delivery\n" + worker.log()[-3000:],
        )
        time.sleep(2)  # any stray retry would have arrived by now (retries are 1 s apart)
        assert [r["headers"]["webhook-id"] for r in receiver.received] == [delivered.webhook_id]  # once
        [arrived] = receiver.verified
        assert arrived["payload"]["type"] == "attendance.marked"
        assert arrived["payload"]["data"]["session_id"] == session.pk
        assert delivered.attempts >= 3
    finally:
        worker.kill()
