"""`GET /healthz` for load balancers: no auth, no session, 503 when the database or Redis is away."""

from unittest import mock

import pytest
import redis
from django.db import OperationalError, connection

from tests.live_server import free_port

pytestmark = pytest.mark.django_db


def test_healthy_without_redis_configured(client, settings):
    settings.REDIS_URL = ""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_it_never_touches_a_session_nor_checks_the_host(client, settings, tutor):
    settings.REDIS_URL = ""
    client.force_login(tutor)
    response = client.get("/healthz", HTTP_HOST="10.0.0.7")  # probes come by IP, not by a listed host
    assert response.status_code == 200
    assert "Cookie" not in response.get("Vary", "")  # the session was never read...
    assert not response.cookies  # ...nor written


def test_redis_answering_is_part_of_health(client, settings):
    try:
        redis.Redis(host="127.0.0.1", port=6379, db=5, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    settings.REDIS_URL = "redis://127.0.0.1:6379/5"
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_redis_down_is_503(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/5"  # nothing listens there
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "redis": "down"}


def test_database_down_is_503(client, settings):
    settings.REDIS_URL = ""
    with mock.patch.object(connection, "cursor", side_effect=OperationalError("connection refused")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "down"


def test_only_get(client):
    assert client.post("/healthz").status_code == 405
