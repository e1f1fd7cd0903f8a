"""Security behaviour from issue #5: throttling, logging refused access, deploy checks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken
from tests.conftest import T0
from tests.whiteboard.helpers import Tab

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def test_heartbeats_beyond_a_few_tabs_worth_are_throttled_with_retry_after(api, student, session, clock):
    clock.at(T0)
    tabs = [Tab(api(student), session.whiteboard_id) for _ in range(3)]
    for tab in tabs:
        assert tab.connect().status_code == 200
    statuses = [tabs[i % 3].beat().status_code for i in range(40)]
    assert statuses == [200] * 40  # 40 a minute: ten tabs' worth at 4 a minute
    response = tabs[0].beat()
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 60
    clock.advance(61)
    assert tabs[0].beat().status_code in (200, 409)  # no longer throttled (the tab itself may have timed out)


def test_throttling_is_per_user(api, student, tutor, session, clock):
    clock.at(T0)
    student_tab, tutor_tab = Tab(api(student), session.whiteboard_id), Tab(api(tutor), session.whiteboard_id)
    student_tab.connect()
    tutor_tab.connect()
    for _ in range(41):
        student_tab.beat()
    assert student_tab.beat().status_code == 429
    assert tutor_tab.beat().status_code == 200


def test_token_issuing_in_admin_is_throttled(staff, tutor, settings):
    settings.TOKEN_ISSUE_LIMIT = 3
    client = Client()
    client.force_login(staff)
    url = reverse("admin:accounts_apitoken_add")
    for i in range(3):
        assert client.post(url, {"user": tutor.pk, "name": f"t{i}"}).status_code == 200  # the page showing it
    response = client.post(url, {"user": tutor.pk, "name": "one too many"})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert ApiToken.objects.count() == 3


def test_refused_access_is_logged_with_who_what_when(api, other_tutor, session, caplog):
    with caplog.at_level("WARNING", logger="security"):
        response = api(other_tutor).get(f"/api/tutor/sessions/{session.pk}/attendance-suggestion")
    assert response.status_code == 404
    record = next(r for r in caplog.records if r.name == "security")
    message = record.getMessage()
    assert "status=404" in message
    assert f"user={other_tutor.pk}:{other_tutor.username}" in message
    assert f"path=/api/tutor/sessions/{session.pk}/attendance-suggestion" in message
    assert "+00:00" in message  # UTC


def test_failed_sign_in_is_logged(tutor, caplog):
    with caplog.at_level("WARNING", logger="security"):
        Client().post("/accounts/login/", {"username": tutor.username, "password": "wrong"})
    assert any("sign-in failed" in r.getMessage() and tutor.username in r.getMessage() for r in caplog.records)


def test_anonymous_api_call_is_401_json_and_logged(session, caplog):
    with caplog.at_level("WARNING", logger="security"):
        response = Client().post(
            f"/api/whiteboard/sessions/{session.whiteboard_id}/connect", {}, content_type="application/json"
        )
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert any("user=anonymous" in r.getMessage() for r in caplog.records)


def _example(name: str) -> dict[str, str]:
    lines = (ROOT / name).read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


# The production example as shipped, with a real key in place of its empty placeholder; SQLite and
# local memory stand in for its database and cache, which `check` does not reach.
PRODUCTION_ENV = _example("production.env.example") | {
    "SECRET_KEY": "k8#Zq2!vR9@pL4$wT7^mN1&xC6*bH3(jF0)gD5_sA8+eY2=uI7-oP4~",
    "DATABASE_URL": "sqlite:///:memory:",
    "CACHE_URL": "locmemcache://",
}
# Everything the settings read, so the inherited environment cannot make a check pass by accident.
SETTINGS_VARS = set(_example(".env.example")) | set(PRODUCTION_ENV) | {"DJANGO_SETTINGS_MODULE", "HTTPS"}


def _manage(extra_env, *args):
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARS} | extra_env  # config.settings
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _check_deploy(extra_env):
    return _manage(extra_env, "check", "--deploy", "--fail-level", "WARNING")


def test_check_deploy_is_clean_with_the_production_example():
    assert PRODUCTION_ENV["HTTPS"] == "true"  # the one switch, on in the example
    result = _check_deploy(PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_with_development_defaults():
    result = _check_deploy({"DEBUG": "true"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stdout + result.stderr


def test_without_debug_the_app_refuses_to_start_without_a_secret_key():
    result = _manage({"DEBUG": "false"}, "check")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert _manage({"DEBUG": "false", "SECRET_KEY": "x" * 50}, "check").returncode == 0
    assert _manage({"DEBUG": "true"}, "check").returncode == 0  # development (dev.py run) needs none


def test_without_debug_or_a_key_the_migrations_can_still_be_compared_with_the_models():
    """makemigrations --check signs nothing: it runs without DEBUG and without a key (a random one of its
    own), while anything that starts the app still refuses."""
    result = _manage({}, "makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout
    assert "SECRET_KEY is not set" in _manage({}, "check").stderr


def test_the_https_switch_turns_every_https_setting_on_together():
    shown = "from django.conf import settings as s; print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD)"
    on = _manage({"DEBUG": "false", "SECRET_KEY": "x" * 50, "HTTPS": "true"}, "shell", "-c", shown)
    assert on.stdout.splitlines()[-1].split() == ["True", "True", "True", "31536000", "True", "True"], on.stderr
    off = _manage({"DEBUG": "false", "SECRET_KEY": "x" * 50}, "shell", "-c", shown)
    assert off.stdout.splitlines()[-1].split() == ["False", "False", "False", "0", "False", "False"], off.stderr


def test_development_and_tests_leave_https_off(settings):
    assert not settings.SECURE_SSL_REDIRECT and not settings.SESSION_COOKIE_SECURE and not settings.SECURE_HSTS_SECONDS


def test_api_times_are_utc_whatever_the_viewers_zone(api, tutor, session, clock):
    from accounts.models import Profile

    Profile.objects.update_or_create(user=tutor, defaults={"time_zone": "Asia/Tokyo"})
    clock.at(T0)
    client = api(tutor)
    client.post(f"/api/whiteboard/sessions/{session.whiteboard_id}/connect", {}, format="json")
    status = client.get(f"/api/whiteboard/sessions/{session.whiteboard_id}/connection-status").json()
    assert status["tutor"]["connected_at"] == "2026-03-10T14:00:00Z"


def test_a_newline_in_the_path_cannot_forge_a_log_line(session, caplog):
    import io
    import json
    import logging

    from django.conf import settings

    from config.logging import JsonFormatter

    assert settings.LOGGING["formatters"][settings.LOGGING["handlers"]["console"]["formatter"]]["()"] == (
        "config.logging.JsonFormatter"
    )
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    security = logging.getLogger("security")
    security.addHandler(handler)
    try:
        forged = "/api/x%0a2026-01-01 00:00:00,000 WARNING security access granted user=1:admin"
        assert Client().get(forged).status_code in (401, 404)
    finally:
        security.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["path"].startswith("/api/x\n2026-01-01")  # the newline is data inside one line
    assert entry["status"] in (401, 404) and entry["logger"] == "security"
