"""Fixed-window rate limits per user, counted where every app process sees the same count: the
shared cache (Redis in production), or for heartbeats on PostgreSQL the database itself, inside the
heartbeat's own statement (`COUNT_IN_DATABASE_SQL`, `accounts.models.RateCounter`)."""

import functools
import re
import time
from dataclasses import dataclass

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def hit(key: str, *, limit: int, period: int, now: float | None = None) -> int | None:
    """Count one attempt in the current window; seconds to wait if over `limit`, else None."""
    now = time.time() if now is None else now
    count = count_in_window(f"ratelimit:{key}:{_window_id(period, now)}", period)
    return window_wait(count, limit=limit, period=period, now=now)


def _window_id(period: int, now: float) -> int:
    return int(now // period)


def _seconds_to_next_window(period: int, now: float) -> int:
    return max(1, int((_window_id(period, now) + 1) * period - now))


def window_wait(count: int, *, limit: int, period: int, now: float) -> int | None:
    """Seconds to the next window if `count` (this window's, the one being decided included) is over
    `limit`, else None."""
    return None if count <= limit else _seconds_to_next_window(period, now)


@dataclass(frozen=True)
class Rate:
    """A per-user limit of one scope: `limit` requests per fixed window of `period` seconds."""

    scope: str
    limit: int
    period: int

    @classmethod
    def of_scope(cls, scope: str) -> "Rate":
        """The rate REST_FRAMEWORK's DEFAULT_THROTTLE_RATES gives `scope` (e.g. THROTTLE_HEARTBEAT)."""
        return cls(scope, *parse_rate(api_settings.DEFAULT_THROTTLE_RATES[scope]))

    def window_id(self, now: float) -> int:
        return _window_id(self.period, now)

    def wait(self, now: float) -> int:
        """Seconds from `now` to the next window."""
        return _seconds_to_next_window(self.period, now)

    def hit(self, user_id: int, now: float) -> int | None:
        """Count one request in the cache (`hit`); seconds to wait if over the limit, else None."""
        return hit(f"{self.scope}:{user_id}", limit=self.limit, period=self.period, now=now)


# PostgreSQL: count one request of a user in the same statement as its work (`RateCounter`). Parameters:
# scope, user id, window id; returns the window's hits, this one included.
COUNT_IN_DATABASE_SQL = """
    INSERT INTO rate_counters AS counter (scope, user_id, window_id, hits) VALUES (%s, %s, %s, 1)
    ON CONFLICT (scope, user_id) DO UPDATE SET
        hits = CASE WHEN counter.window_id = EXCLUDED.window_id THEN counter.hits + 1 ELSE 1 END,
        window_id = EXCLUDED.window_id
    RETURNING hits
"""


# Add one to the window's counter, starting it with the window's length to live: one command.
_COUNT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


def count_in_window(key: str, period: int) -> int:
    """Add one to the window's counter and return it; the counter lives `period` seconds from its first count."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        # make_key, not make_and_validate_key: our keys are short ASCII (validation warns about keys
        # memcached would refuse, character by character, on every call).
        return _redis_counter(backend)(keys=[backend.make_key(key)], args=[period])
    if backend.add(key, 1, timeout=period):
        return 1
    try:
        return backend.incr(key)
    except ValueError:  # expired between add and incr
        backend.add(key, 1, timeout=period)
        return 1


def _redis_counter(backend: RedisCache):
    """The counting script on the cache's primary server, made once per cache object (one per thread).

    Django's own add() + incr() take three round trips, and each of its calls builds a new Redis
    client (hundreds of response callbacks set up every time); this runs on every heartbeat.
    """
    script = getattr(backend, "_ratelimit_count_script", None)
    if script is None:
        script = backend._cache.get_client(write=True).register_script(_COUNT_SCRIPT)
        backend._ratelimit_count_script = script
    return script


@functools.cache
def parse_rate(rate: str) -> tuple[int, int]:
    """'40/min' -> (40, 60): DRF's notation for throttle rates; '10/15min' -> (10, 900) counts 15 minutes."""
    count, _, unit = rate.partition("/")
    many, unit = re.fullmatch(r"(\d*)([a-z]+)", unit).groups()
    return int(count), int(many or 1) * PERIODS[unit]


class ScopedUserRateThrottle(BaseThrottle):
    """Per signed-in user and per view's `throttle_scope`, at the rate REST_FRAMEWORK's
    DEFAULT_THROTTLE_RATES gives the scope; answers 429 with Retry-After through DRF.

    DRF's own ScopedRateThrottle keeps every request's time in a cached list and rewrites it on
    each request (two round trips to Redis and a pickled list); a fixed window is one round trip.
    """

    def allow_request(self, request, view) -> bool:
        self.wait_seconds = None
        if not request.user or not request.user.is_authenticated:
            return True  # authentication answers those first
        # A view without a scope of its own (ping, the schema) shares the "api" scope (THROTTLE_API).
        self.wait_seconds = Rate.of_scope(getattr(view, "throttle_scope", None) or "api").hit(
            request.user.pk, time.time()
        )
        return self.wait_seconds is None

    def wait(self) -> int | None:
        return self.wait_seconds
