"""Sign-in throttling: failed attempts counted per username and per client address, in the shared
cache (`accounts.ratelimit`), and checked before any password is hashed.

Only failures count, so a school's many pupils signing in from one address never lock each other out;
once a username or an address has failed `THROTTLE_SIGNIN_USERNAME` / `THROTTLE_SIGNIN_IP` times in
the current window, every further attempt is refused (429, `Retry-After`) without touching the
password hasher or the database until the window ends.
"""

import contextlib
import hashlib
import math
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

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


def _failure_waits(*, username: str | None, ip: str, now: float) -> dict[str, int]:
    """Seconds to wait per failure limit over its count in the current window ("signin-user", "signin-ip"):
    one round trip to the cache, counting nothing."""
    keys = {}
    for limit, value in zip(_limits(), (_normalised(username), ip), strict=True):
        if value:
            keys[limit.cache_key(value, now)] = limit
    counts = caches["default"].get_many(list(keys))
    return {
        limit.scope: max(1, int((int(now // limit.period) + 1) * limit.period - now))
        for key, limit in keys.items()
        if int(counts.get(key) or 0) >= limit.limit
    }


def signin_wait(*, username: str | None, ip: str, now: float | None = None) -> int | None:
    """Seconds to wait if this username or this address has failed too often in the current window, else None.

    A read (one round trip to the cache), counting nothing: refused attempts do not extend the wait.
    """
    waits = _failure_waits(username=username, ip=ip, now=time.time() if now is None else now)
    return max(waits.values(), default=None)


# Addresses this process has refused, and when: {ip: (refused at, until)}. Within a window the counts
# only grow, so a refused address stays refused until its window ends, whatever it sends: a flood's
# further attempts are refused from here, without a round trip to the cache (or, at the ASGI entry
# point, a thread). Each process learns it from its own first refusal. At most REFUSED_REMEMBERED
# addresses; past that the expired ones are dropped, then the oldest.
_refused: dict[str, tuple[float, float]] = {}
REFUSED_REMEMBERED = 10_000


def signin_refused(*, ip: str, now: float | None = None) -> int | None:
    """Seconds this address must still wait, if this process has refused it in the current window, else None."""
    now = time.time() if now is None else now
    since, until = _refused.get(ip, (0.0, 0.0))
    return max(1, math.ceil(until - now)) if since <= now < until else None


def _remember_refused(ip: str, now: float, wait: int) -> None:
    if len(_refused) >= REFUSED_REMEMBERED:
        for address in [a for a, (_, until) in list(_refused.items()) if until <= now] or list(_refused)[:1]:
            del _refused[address]
    _refused[ip] = (now, now + wait)


def signin_refusals_forget() -> None:
    """Forget the addresses refused (tests: each starts with an empty cache)."""
    _refused.clear()


def signin_attempt(*, username: str | None, ip: str, now: float | None = None) -> int | None:
    """A sign-in POST arrives: count it against its address (THROTTLE_SIGNIN_IP_ATTEMPTS, every attempt,
    failed or not: a flood is refused within its first second, before its failures could add up), then
    check the failure limits. Seconds to wait, or None.

    An address already refused in this window is refused again from memory (`signin_refused`), uncounted:
    its count is over the limit until the window ends anyway. Its Retry-After is then the address's wait;
    a username locked for longer says so when the client comes back.
    """
    now = time.time() if now is None else now
    if (known := signin_refused(ip=ip, now=now)) is not None:
        return known
    limit, period = ratelimit.parse_rate(settings.THROTTLE_SIGNIN_IP_ATTEMPTS)
    attempts_wait = ratelimit.hit(f"signin-ip-attempts:{ip}", limit=limit, period=period, now=now)
    failures = _failure_waits(username=username, ip=ip, now=now)
    address_wait = max((w for w in (attempts_wait, failures.get("signin-ip")) if w is not None), default=None)
    if address_wait is not None:
        _remember_refused(ip, now, address_wait)
    return max((w for w in (address_wait, failures.get("signin-user")) if w is not None), default=None)


def signin_failure_record(*, username: str | None, ip: str, now: float | None = None) -> None:
    """Count one failed attempt against the username and against the address."""
    for limit, value in zip(_limits(), (_normalised(username), ip), strict=True):
        if value:
            ratelimit.hit(limit.key(value), limit=limit.limit, period=limit.period, now=now)


# Deployment-wide cap on sign-in attempts being checked at once (each hashes a password: ~0.5 s of CPU).
# Holders are kept in a sorted set by start time; one that crashed is forgotten after SLOT_STALE_SECONDS.
_SLOT_KEY = "signin-slots"
SLOT_STALE_SECONDS = 30
_ACQUIRE_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


def signin_slots_full(*, now: float | None = None) -> bool:
    """Whether every place of `signin_slot` is taken now: a look, nothing is taken. The entry point's gate
    (accounts.signin_gate) then refuses the attempt itself instead of handing Django a request whose
    middleware would only find the same and refuse it: a flood's attempts under the address limits came
    to Django in bursts (each window's first, every client's first) and took the interpreter from the
    heartbeats for a second or two (bench/login_flood.py)."""
    cap = settings.SIGNIN_CONCURRENT_HASHES
    if not cap:
        return False
    backend = caches["default"]
    now = time.time() if now is None else now
    if isinstance(backend, RedisCache):
        client = backend._cache.get_client()
        return client.zcount(backend.make_key(_SLOT_KEY), now - SLOT_STALE_SECONDS, "+inf") >= cap
    return (backend.get(_SLOT_KEY) or 0) >= cap


@contextlib.contextmanager
def signin_slot() -> Iterator[bool]:
    """One of SIGNIN_CONCURRENT_HASHES places for a sign-in attempt; yields False when all are taken.

    Password hashing is slow by design, so without a cap a flood of sign-in attempts (each a new
    username, from many addresses, under every other limit) keeps every app worker hashing and the
    whiteboard's heartbeats wait. With the cap below the number of workers, the rest keep serving.
    """
    cap = settings.SIGNIN_CONCURRENT_HASHES
    if not cap:
        yield True
        return
    backend = caches["default"]
    token = uuid.uuid4().hex
    now = time.time()
    if isinstance(backend, RedisCache):
        client = backend._cache.get_client(write=True)
        key = backend.make_key(_SLOT_KEY)
        acquired = bool(
            client.eval(_ACQUIRE_SCRIPT, 1, key, now, now - SLOT_STALE_SECONDS, cap, token, SLOT_STALE_SECONDS * 2)
        )
        try:
            yield acquired
        finally:
            if acquired:
                client.zrem(key, token)
        return
    # One process (local memory: development and tests): a counter is enough.
    backend.add(_SLOT_KEY, 0, timeout=SLOT_STALE_SECONDS)
    acquired = backend.incr(_SLOT_KEY) <= cap
    try:
        yield acquired
    finally:
        backend.decr(_SLOT_KEY)
