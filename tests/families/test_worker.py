"""E-mail through a real Celery worker on Redis and a real SMTP server (issue #17).

Four processes: the app (gunicorn, as in production), a Celery worker (`celery -A config worker`), the
SMTP sink (tests/smtp_sink.py) and Redis (database 9, emptied first). The tutor marks the student absent
over HTTP; the parent's e-mail must reach the sink exactly once, whatever happens to the mail server or
the worker in between. "Once" means one distinct Message-ID at the sink: a resend after a crash between
the server's acceptance and our record is the same message. Retry delays, the mail timeout and the
broker's visibility timeout are shortened through settings, so the waits are seconds.
"""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.db import connection
from django.utils import timezone

from accounts.services import token_issue
from families.models import SentNotification
from tests.factories import GuardianFactory, TutoringSessionFactory, UserFactory
from tests.live_server import ROOT, LiveServer, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.processes, pytest.mark.django_db(transaction=True)]

BROKER_URL = "redis://127.0.0.1:6379/9"
VISIBILITY_TIMEOUT = 6  # seconds before Redis hands a dead worker's task to another; above the 4 s send
WAIT = 30.0  # a correctness bound on a hang; each step takes a few seconds


def wait_for(condition, *, timeout=WAIT, what=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")


class Process:
    """A child process in its own process group, its output in a log file; always stopped on exit."""

    def __init__(self, args: list[str], *, env: dict, log_path: Path):
        self.args, self.env, self.log_path = args, env, log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> "Process":
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in kill()
        self.process = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    def kill(self, sig=signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.process is not None:
            self._log.close()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class SmtpSink(Process):
    def __init__(self, tmp_path: Path):
        self.port = free_port()
        self.messages_path = tmp_path / "smtp.jsonl"
        super().__init__(
            [sys.executable, "tests/smtp_sink.py", "--port", str(self.port), "--log", str(self.messages_path)],
            env={**os.environ},
            log_path=tmp_path / "smtp.log",
        )

    def start(self) -> "SmtpSink":
        super().start()
        wait_for(lambda: "ready" in self.log(), what="the SMTP sink")
        return self

    def delay(self, seconds: float) -> None:
        Path(f"{self.messages_path}.delay").write_text(str(seconds))

    def events(self, event: str) -> list[dict]:
        if not self.messages_path.exists():
            return []
        lines = self.messages_path.read_text().splitlines()
        return [record for record in map(json.loads, lines) if record["event"] == event]


class Worker(Process):
    def start(self) -> "Worker":
        super().start()
        wait_for(lambda: " ready." in self.log(), what="the Celery worker")
        return self


@pytest.fixture
def broker():
    client = redis.Redis.from_url(BROKER_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {BROKER_URL} (.ci/run starts one)")
    client.flushdb()  # database 9 is this test's own
    yield BROKER_URL
    client.flushdb()


@pytest.fixture
def sink(tmp_path):
    sink = SmtpSink(tmp_path).start()
    yield sink
    sink.kill()


@pytest.fixture
def env(broker, sink):
    db = connection.settings_dict
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": broker,
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(sink.port),
        "EMAIL_USE_TLS": "false",
        "EMAIL_TIMEOUT": "8",
        "NOTIFICATION_RETRY_DELAYS": ",".join(["1"] * 20),
        "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
    }


@pytest.fixture
def server(env, tmp_path):
    with LiveServer(env=env, log_path=tmp_path / "gunicorn.log", workers=1) as live:
        yield live


@pytest.fixture
def worker(env, tmp_path):
    # prefork, as in production: the parent acknowledges while the child runs the task, so only
    # acks_late leaves a killed task unacknowledged (the solo pool acknowledges after the task either way).
    args = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork", "--concurrency=1"]
    args += ["--without-gossip", "--without-mingle", "-l", "INFO"]
    worker = Worker(args, env=env, log_path=tmp_path / "worker.log")
    yield worker
    worker.kill()


@pytest.fixture
def absent_mark(tutor, student):
    """Marks the student absent through the API, as the tutor's browser would; returns the seconds it took."""
    GuardianFactory(user=UserFactory(username="pam_parent", email="pam@example.com"), children=[student])
    now = timezone.now()
    session = TutoringSessionFactory(
        tutor=tutor, student=student, scheduled_start=now - timedelta(hours=2), scheduled_end=now - timedelta(hours=1)
    )
    _, key = token_issue(user=tutor, name="worker-test")

    def mark(server: LiveServer) -> float:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
        started = time.monotonic()
        conn.request(
            "PUT",
            f"/api/tutor/sessions/{session.pk}/attendance",
            body=json.dumps({"student_attendance_status": "absent"}),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        body = response.read()
        took = time.monotonic() - started
        conn.close()
        assert response.status == 200, (body, server.log()[-2000:])
        return took

    return mark


def notification() -> SentNotification | None:
    return SentNotification.objects.filter(kind="student_absent").first()


def sent_notification() -> SentNotification | None:
    return SentNotification.objects.filter(kind="student_absent", status="sent").first()


def test_marking_absent_returns_before_a_slow_mail_server_has_the_mail(server, worker, sink, absent_mark):
    worker.start()
    sink.delay(4)  # the mail server takes 4 s to accept

    took = absent_mark(server)
    answered_at = time.time()

    assert took < 3, took  # a correctness bound (a healthy answer takes milliseconds), not a benchmark
    record = wait_for(sent_notification, what="the e-mail to be sent\n" + worker.log()[-3000:])
    [accepted] = sink.events("accepted")
    assert accepted["at"] > answered_at  # the server took the mail after the tutor had the answer
    assert accepted["message_id"] == record.message_id
    assert accepted["to"] == ["pam@example.com"]


def test_mail_server_down_then_up_delivers_the_mail_once(server, worker, sink, absent_mark):
    worker.start()
    sink.kill()  # the mail server is down

    absent_mark(server)

    failing = wait_for(lambda: (n := notification()) is not None and n.attempts >= 2 and n, what="two failed attempts")
    assert failing.status == "pending"
    assert "Connection refused" in failing.last_error
    assert sink.events("data") == []

    sink.start()  # up again, same port
    record = wait_for(sent_notification, what="the e-mail to be sent\n" + worker.log()[-3000:])
    time.sleep(2)  # any stray retry would have arrived by now (retries are 1 s apart)
    arrived = [e["message_id"] for e in sink.events("data")]
    assert arrived == [record.message_id]  # once


def test_a_worker_killed_mid_send_sends_again_after_restart_and_it_is_the_same_message(
    server, worker, sink, absent_mark
):
    worker.start()
    sink.delay(30)  # the mail server has the mail but has not said so yet when the worker dies

    absent_mark(server)
    [first] = wait_for(lambda: sink.events("data"), what="the mail to reach the SMTP server")
    worker.kill(signal.SIGKILL)  # kill -9 the worker (its whole process group) mid-task
    assert notification().status == "pending"  # our record never heard of the server's acceptance

    sink.delay(0)
    worker.start()  # Redis hands the unacknowledged task over once the visibility timeout passes
    record = wait_for(sent_notification, what="the e-mail to be sent after the restart\n" + worker.log()[-3000:])

    arrivals = sink.events("data")
    assert len(arrivals) == 2  # the task ran again (acks_late)...
    assert {e["message_id"] for e in arrivals} == {record.message_id} == {first["message_id"]}  # ...one message
    assert record.attempts == 0


def test_redis_down_at_the_mark_then_the_overdue_sweep_sends_the_mail_once(env, sink, worker, tmp_path, absent_mark):
    # The app's broker is a port nobody listens on: Redis is down when the mark commits.
    down = {**env, "CELERY_BROKER_URL": f"redis://127.0.0.1:{free_port()}/9"}
    with LiveServer(env=down, log_path=tmp_path / "gunicorn-redis-down.log", workers=1) as server:
        absent_mark(server)  # 200: the mark stands
        log = server.log()
    assert "could not be queued" in log, log[-3000:]
    record = notification()
    assert (record.status, record.attempts) == ("pending", 0)  # made with the mark, waiting
    assert sink.events("data") == []

    # Redis is back: the worker runs the sweep beat would queue (overdue at once, through settings).
    worker.env = {**env, "NOTIFICATION_REDELIVER_AFTER": "0"}
    worker.start()
    call = [sys.executable, "-m", "celery", "-A", "config", "call", "families.tasks.notifications_redeliver_task"]
    subprocess.run(call, cwd=ROOT, env=worker.env, check=True, capture_output=True, timeout=WAIT)
    sent = wait_for(sent_notification, what="the e-mail to be sent by the sweep\n" + worker.log()[-3000:])
    assert sent.message_id == record.message_id
    subprocess.run(call, cwd=ROOT, env=worker.env, check=True, capture_output=True, timeout=WAIT)  # again: nothing
    wait_for(lambda: worker.log().count("notifications_redeliver_task") >= 4, what="the second sweep to finish")
    assert [e["message_id"] for e in sink.events("data")] == [record.message_id]  # once
