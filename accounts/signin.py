"""Sign-in throttling: failed attempts counted per username and per client address, in the shared
cache (`accounts.ratelimit`), and checked before any password is hashed.

Only failures count, so a school's many pupils signing in from one address never lock each other out;
once a username or an address has failed `THROTTLE_SIGNIN_USERNAME` / `THROTTLE_SIGNIN_IP` times in
the current window, every further attempt is refused (429, `Retry-After`) without touching the
password hasher or the database until the window ends.
"""

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches

from accounts import ratelimit


@dataclass(frozen=True)
class _Limit:
    scope: str
    limit: int
    period: int

    def key(self, value: str) -> str:
        # Hashed: usernames are arbitrary text and cache keys must stay short ASCII.
        return f"{self.scope}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"

    def cache_key(self, value: str, now: float) -> str:
        return f"ratelimit:{self.key(value)}:{int(now // self.period)}"  # as accounts.ratelimit.hit counts


def _limits() -> tuple[_Limit, _Limit]:
    return (
        _Limit("signin-user", *ratelimit.parse_rate(settings.THROTTLE_SIGNIN_USERNAME)),
        _Limit("signin-ip", *ratelimit.parse_rate(settings.THROTTLE_SIGNIN_IP)),
    )


def client_ip(request) -> str:
    """The address the request came from. Behind a proxy, the proxy must pass the client's address as
    REMOTE_ADDR (e.g. gunicorn --forwarded-allow-ips with a proxy protocol); X-Forwarded-For is not trusted."""
    return request.META.get("REMOTE_ADDR") or "unknown"


def _normalised(username: str | None) -> str:
    return (username or "").strip().casefold()


def signin_wait(*, username: str | None, ip: str, now: float | None = None) -> int | None:
    """Seconds to wait if this username or this address has failed too often in the current window, else None.

    A read (one round trip to the cache), counting nothing: refused attempts do not extend the wait.
    """
    now = time.time() if now is None else now
    waits = []
    keys = {}
    for limit, value in zip(_limits(), (_normalised(username), ip), strict=True):
        if value:
            keys[limit.cache_key(value, now)] = limit
    counts = caches["default"].get_many(list(keys))
    for key, limit in keys.items():
        if int(counts.get(key) or 0) >= limit.limit:
            waits.append(max(1, int((int(now // limit.period) + 1) * limit.period - now)))
    return max(waits) if waits else None


def signin_failure_record(*, username: str | None, ip: str, now: float | None = None) -> None:
    """Count one failed attempt against the username and against the address."""
    for limit, value in zip(_limits(), (_normalised(username), ip), strict=True):
        if value:
            ratelimit.hit(limit.key(value), limit=limit.limit, period=limit.period, now=now)
