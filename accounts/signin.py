"""Sign-in throttling: failed attempts counted per username and per client address, in the shared
cache (`accounts.ratelimit`), and checked before any password is hashed.

Failures count per username and per address: once a username or an address has failed
`THROTTLE_SIGNIN_USERNAME` / `THROTTLE_SIGNIN_IP` times in the current window, every further attempt is
refused (429, `Retry-After`) without touching the password hasher or the database until the window ends.
Every attempt counts against its address as well (`THROTTLE_SIGNIN_IP_ATTEMPTS`), with room for a class
signing in from behind one address.
"""

import contextlib
import functools
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

    def wait(self, count: int, now: float) -> int | None:
        """Seconds to the end of the window if `count` failures have reached the limit, else None."""
        # The attempt being decided would be failure count + 1.
        return ratelimit.window_wait(count + 1, limit=self.limit, period=self.period, now=now)


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


def _failure_keys(*, username: str | None, ip: str, now: float) -> dict[str, _Limit]:
    """The failure counters of this username and this address in the current window (unprefixed cache
    keys), and their limits."""
    keys = {}
    for limit, value in zip(_limits(), (_normalised(username), ip), strict=True):
        if value:
            keys[limit.cache_key(value, now)] = limit
    return keys


def _waits_over(keys: dict[str, _Limit], counts: dict, now: float) -> dict[str, int]:
    """Seconds to wait per failure limit ("signin-user", "signin-ip") whose count (`counts` per key of
    `keys`) has reached it."""
    waits = {limit.scope: limit.wait(int(counts.get(key) or 0), now) for key, limit in keys.items()}
    return {scope: wait for scope, wait in waits.items() if wait is not None}


def _failure_waits(*, username: str | None, ip: str, now: float) -> dict[str, int]:
    """Seconds to wait per failure limit over its count in the current window: one round trip to the
    cache, counting nothing."""
    keys = _failure_keys(username=username, ip=ip, now=now)
    return _waits_over(keys, caches["default"].get_many(list(keys)), now)


def signin_wait(*, username: str | None, ip: str, now: float | None = None) -> int | None:
    """Seconds to wait if this username or this address has failed too often in the current window, else None.

    A read (one round trip to the cache), counting nothing: refused attempts do not extend the wait.
    """
    waits = _failure_waits(username=username, ip=ip, now=time.time() if now is None else now)
    return max(waits.values(), default=None)


# Addresses this process has refused, and when: {ip: (refused at, until)}. Within a window the counts
# only grow, so a refused address stays refused until its window ends, whatever it sends: a flood's
# further attempts are refused from here, without a round trip to the cache. Each process learns it from
# its own first refusal. At most REFUSED_REMEMBERED addresses; past that the expired ones are dropped,
# then the oldest.
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
    return signin_check(username=username, ip=ip, now=now).wait


@dataclass(frozen=True)
class Verdict:
    wait: int | None  # seconds to wait before trying again, or None: go on
    busy: bool = False  # every place for checking a password is taken (asked for with `slots`)


@dataclass(frozen=True)
class SignInCheck:
    """One sign-in attempt's check, made in one round trip to the cache (`CHECK_SCRIPT`): the attempt
    counted in its address's window, and read with it the failures of its username and of its address
    and, for the entry points' gates (`slots`), how many places for checking a password are taken. The
    same rule whichever way the round trip is made: `signin_check` here, or the ASGI gate on its event loop."""

    username: str | None
    ip: str
    now: float
    slots: bool = False

    def attempts(self) -> tuple[int, int]:
        return ratelimit.parse_rate(settings.THROTTLE_SIGNIN_IP_ATTEMPTS)

    def attempt_key(self) -> str:
        """The address's attempt counter in this window (unprefixed), as `ratelimit.hit` counts."""
        _, period = self.attempts()
        return f"ratelimit:signin-ip-attempts:{self.ip}:{int(self.now // period)}"

    @functools.cached_property
    def failure_keys(self) -> dict[str, _Limit]:
        """The failure counters to read (unprefixed), and their limits: made once per check."""
        return _failure_keys(username=self.username, ip=self.ip, now=self.now)

    def script_call(self, make_key) -> tuple[list[str], list]:
        """CHECK_SCRIPT's keys (prefixed by the cache's `make_key`) and arguments."""
        keys = [self.attempt_key(), _SLOT_KEY, *self.failure_keys]
        cap = settings.SIGNIN_CONCURRENT_HASHES if self.slots else 0
        _, period = self.attempts()
        return [make_key(key) for key in keys], [period, cap, self.now - SLOT_STALE_SECONDS]

    def verdict(self, replies: list[int]) -> Verdict:
        """What the script's answer means: [this window's attempts, places taken, failures per
        `failure_keys`]. An address found over a limit is remembered (`signin_refused`)."""
        attempts, taken, *failed = (int(reply or 0) for reply in replies)
        limit, period = self.attempts()
        waits = _waits_over(self.failure_keys, dict(zip(self.failure_keys, failed, strict=True)), self.now)
        attempts_wait = ratelimit.window_wait(attempts, limit=limit, period=period, now=self.now)
        address_wait = _longest(attempts_wait, waits.get("signin-ip"))
        if address_wait is not None:
            _remember_refused(self.ip, self.now, address_wait)
        wait = _longest(address_wait, waits.get("signin-user"))
        cap = settings.SIGNIN_CONCURRENT_HASHES if self.slots else 0
        return Verdict(wait, busy=wait is None and bool(cap) and taken >= cap)


# KEYS: this window's attempts of the address, the hashing places, the failure counters; ARGV: the
# window's length (the attempt counter's time to live), the places' cap (0: not asked), the oldest place
# still held. Returns [attempts, places taken, failures...].
CHECK_SCRIPT = """
local attempts = redis.call('INCR', KEYS[1])
if attempts == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local out = {attempts, 0}
if tonumber(ARGV[2]) > 0 then out[2] = redis.call('ZCOUNT', KEYS[2], ARGV[3], '+inf') end
for i = 3, #KEYS do out[#out + 1] = tonumber(redis.call('GET', KEYS[i]) or '0') end
return out
"""


def signin_check(*, username: str | None, ip: str, now: float | None = None, slots: bool = False) -> Verdict:
    """`signin_attempt`, and with `slots` whether every place for checking a password is taken, as the
    entry points' gates ask (accounts.signin_gate): one round trip to the cache."""
    now = time.time() if now is None else now
    if (known := signin_refused(ip=ip, now=now)) is not None:
        return Verdict(known)
    check = SignInCheck(username=username, ip=ip, now=now, slots=slots)
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        script = getattr(backend, "_signin_check_script", None)
        if script is None:
            script = backend._signin_check_script = backend._cache.get_client(write=True).register_script(CHECK_SCRIPT)
        keys, args = check.script_call(backend.make_key)
        return check.verdict(script(keys=keys, args=args))
    # One process (local memory: development and tests): the same counts, read one by one.
    _, period = check.attempts()
    attempts = ratelimit.count_in_window(check.attempt_key(), period)
    failures = backend.get_many(list(check.failure_keys))
    taken = (backend.get(_SLOT_KEY) or 0) if slots else 0
    return check.verdict([attempts, taken, *map(failures.get, check.failure_keys)])


def _longest(*waits: int | None) -> int | None:
    return max((wait for wait in waits if wait is not None), default=None)


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
