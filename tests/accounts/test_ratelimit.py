"""Rate limits on the cache production uses (Redis, real server at 127.0.0.1:6379) and on local memory."""

import uuid
from datetime import timedelta

import pytest
import redis
from django.core.cache import caches

from accounts import ratelimit
from tests.conftest import T0
from tests.whiteboard.helpers import Tab

REDIS_URL = "redis://127.0.0.1:6379/14"


@pytest.fixture
def redis_cache(settings):
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    prefix = f"test-{uuid.uuid4()}"  # runs side by side never share counters
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    yield caches["default"]
    server = redis.Redis.from_url(REDIS_URL)
    for key in server.scan_iter(f"{prefix}:*"):
        server.delete(key)


@pytest.fixture(params=["redis", "local memory"])
def any_cache(request):
    if request.param == "redis":
        return request.getfixturevalue("redis_cache")
    return caches["default"]


def test_the_limit_holds_within_a_window_and_says_how_long_to_wait(any_cache, clock):
    clock.at(T0.replace(second=10))
    assert [ratelimit.hit("k", limit=3, period=60) for _ in range(3)] == [None, None, None]
    assert ratelimit.hit("k", limit=3, period=60) == 50  # the window ends on the minute
    clock.advance(50)
    assert ratelimit.hit("k", limit=3, period=60) is None  # a new window


def test_keys_count_apart(any_cache, clock):
    clock.at(T0)
    ratelimit.hit("a", limit=1, period=60)
    assert ratelimit.hit("a", limit=1, period=60) is not None
    assert ratelimit.hit("b", limit=1, period=60) is None


def test_a_redis_counter_expires_with_its_window(redis_cache, clock):
    clock.at(T0)
    ratelimit.hit("k", limit=5, period=60)
    ratelimit.hit("k", limit=5, period=60)
    server = redis.Redis.from_url(REDIS_URL)
    (key,) = [k for k in server.scan_iter(f"{redis_cache.key_prefix}:*")]
    assert int(server.get(key)) == 2
    assert 0 < server.ttl(key) <= 60  # set by the first hit, not renewed by later ones


def test_a_redis_count_is_one_command(redis_cache, clock):
    clock.at(T0)
    ratelimit.hit("warm", limit=5, period=60)  # loads the script
    server = redis.Redis.from_url(REDIS_URL)
    before = server.info("commandstats")
    ratelimit.hit("k", limit=5, period=60)
    after = server.info("commandstats")
    sent = {name: after[name]["calls"] - before.get(name, {}).get("calls", 0) for name in after}
    sent = {name.removeprefix("cmdstat_"): n for name, n in sent.items() if n and name != "cmdstat_info"}
    # One command from the client (Django's add + incr send set, exists, incr); the script runs the other two.
    assert sent == {"evalsha": 1, "incr": 1, "expire": 1}, sent


@pytest.mark.django_db
def test_heartbeats_are_throttled_through_redis(redis_cache, api, student, session, clock):
    clock.at(T0)
    tab = Tab(api(student), session.whiteboard_id)
    assert tab.connect().status_code == 200
    assert [tab.beat().status_code for _ in range(40)] == [200] * 40
    response = tab.beat()
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60


@pytest.mark.django_db
@pytest.mark.postgres
def test_heartbeats_count_in_one_row_per_user_that_restarts_with_each_window(api, student, session, clock, settings):
    from accounts.models import RateCounter

    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "heartbeat": "3/min"},
    }
    clock.at(T0 + timedelta(seconds=30))
    tab = Tab(api(student), session.whiteboard_id)
    tab.connect()
    assert [tab.beat().status_code for _ in range(4)] == [200, 200, 200, 429]
    clock.advance(30)  # the next minute: a new window, the tab still alive
    assert tab.beat().status_code == 200
    (counter,) = RateCounter.objects.filter(user=student)
    assert (counter.scope, counter.hits, counter.window_id) == ("heartbeat", 1, int(clock.now.timestamp()) // 60)


@pytest.mark.django_db
def test_a_throttled_heartbeat_records_nothing(api, student, session, clock, settings):
    from whiteboard.models import Connection

    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "heartbeat": "1/min"},
    }
    clock.at(T0)
    tab = Tab(api(student), session.whiteboard_id)
    tab.connect()
    clock.advance(10)
    assert tab.beat().status_code == 200
    clock.advance(10)
    response = tab.beat()
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) == 40
    assert Connection.objects.get(connection_id=tab.connection_id).last_signal_at == T0 + timedelta(seconds=10)
