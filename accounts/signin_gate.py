"""The production entry points' first check (config/asgi.py for uvicorn, config/wsgi.py for gunicorn): a
throttled sign-in POST is refused before Django handles the request at all.

Under a flood every refusal is paid for by an app process while heartbeats wait for the same CPU; this
answer costs one cache round trip and no middleware, session, CSRF check, form or template (and under
ASGI no thread: the round trip is awaited on the event loop). What it refuses is exactly what
`accounts.middleware.SignInThrottleMiddleware` would (`accounts.signin.SignInCheck`: one rule), which
stays in place for everything that does not come through these entry points (tests, runserver).
`signin_gate` below is that one decision; `SignInGate` (WSGI) and `AsgiSignInGate` (ASGI) only read the
request and write the answer in their server's terms.
"""

import asyncio
import contextlib
import functools
import logging
import random
import time
import urllib.parse
import weakref
from concurrent.futures import ThreadPoolExecutor

import redis.asyncio
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.template.loader import render_to_string

from accounts.signin import CHECK_SCRIPT, SignInCheck, Verdict, signin_check, signin_refused

logger = logging.getLogger(__name__)
SIGNIN_PATHS = frozenset({"/accounts/login/", "/admin/login/"})
MAX_FORM_BYTES = 16 * 1024  # a sign-in form is a few hundred bytes
FORM_TYPE = "application/x-www-form-urlencoded"
# Marks a request the gate has counted (WSGI environ, ASGI scope): the middleware does not count it again.
COUNTED = "signin.counted"
# Where the ASGI gate checks the attempts it cannot answer from memory: with Redis, on the event loop over
# a few connections of its own (per loop: `_loop_check_script`); with another cache (one process: local
# memory), in one thread per process.
_CHECKS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="signin-gate")
LOOP_CHECK_CONNECTIONS = 4
_loop_scripts = weakref.WeakKeyDictionary()  # event loop -> CHECK_SCRIPT on its own Redis client
# The page's own needs only: its stylesheet and logo.
PAGE_CSP = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'"


@functools.cache
def _page(minutes: int, *, busy: bool = False) -> bytes:
    """The throttled page (templates/registration/throttled.html), rendered once per wait in minutes
    (`busy`: every place for checking a password is taken, as `accounts.views.signin_busy` says it)."""
    context = {"busy": True} if busy else {"minutes": minutes}
    return render_to_string("registration/throttled.html", context).encode()


def warm_up() -> None:
    """Render the sign-in pages once as each process starts (config/asgi.py, config/wsgi.py). Compiling
    their templates held the interpreter for ~40 ms on a process's first sign-in page (1.5 ms after), and
    a flood's first second is when every process meets its first (bench/login_flood.py, README).

    Only a head start: if a page cannot be rendered yet (static files not collected, say), the process
    starts all the same, with a warning, and the page's first request says what is wrong."""
    from django.contrib.auth.forms import AuthenticationForm

    try:
        render_to_string("registration/login.html", {"form": AuthenticationForm()})
        _page(1)
        _page(1, busy=True)
    except Exception:
        logger.warning("the sign-in pages could not be rendered ahead of their first request", exc_info=True)


def gated(method: str, path: str) -> bool:
    """Whether the gate looks at this request at all: sign-in form POSTs only."""
    return method == "POST" and path in SIGNIN_PATHS


def form_is_readable(content_type: str, length: int | None) -> bool:
    """Whether the gate reads the body for the username: a small form (length None: not declared)."""
    return content_type.startswith(FORM_TYPE) and (length is None or 0 < length <= MAX_FORM_BYTES)


def signin_gate(*, body: bytes | None, ip: str) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """A sign-in POST (its form body, if it was read; its client's address) is counted and checked:
    the refusal to send (status, headers, page), or None to hand the request on to Django."""
    return answer(signin_check(username=form_username(body), ip=ip or "unknown", slots=True))


async def signin_gate_on_loop(*, body: bytes | None, ip: str) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """`signin_gate`, its one round trip to Redis awaited on the running event loop; without Redis, in
    the gate's thread (`_CHECKS`)."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        # sync_to_async, not asyncio.to_thread: it hands the thread this context's cache object (one per process).
        return await sync_to_async(signin_gate, thread_sensitive=False, executor=_CHECKS)(body=body, ip=ip)
    ip = ip or "unknown"
    now = time.time()
    if (known := signin_refused(ip=ip, now=now)) is not None:
        return refusal(known)
    check = SignInCheck(username=form_username(body), ip=ip, now=now, slots=True)
    keys, args = check.script_call(backend.make_key)
    return answer(check.verdict(await _loop_check_script(backend)(keys=keys, args=args)))


def _loop_check_script(backend: RedisCache):
    """CHECK_SCRIPT on an asyncio client of the cache's primary server, one per event loop (a process
    serves on one; tests run several), with at most LOOP_CHECK_CONNECTIONS connections: a flood's burst
    of checks waits its turn for them rather than opening hundreds."""
    loop = asyncio.get_running_loop()
    script = _loop_scripts.get(loop)
    if script is None:
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            backend._servers[0], max_connections=LOOP_CHECK_CONNECTIONS
        )
        script = _loop_scripts[loop] = redis.asyncio.Redis(connection_pool=pool).register_script(CHECK_SCRIPT)
    return script


def form_username(body: bytes | None) -> str | None:
    return urllib.parse.parse_qs(body.decode("latin-1")).get("username", [None])[0] if body else None


def answer(verdict: Verdict) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """The refusal a verdict calls for, or None to hand the attempt on to Django. A busy one is refused as
    Django's middleware would refuse it (accounts.views.signin_busy)."""
    if verdict.wait is not None:
        return refusal(verdict.wait)
    return refusal(1, busy=True) if verdict.busy else None


def refusal(wait: int, *, busy: bool = False) -> tuple[int, list[tuple[str, str]], bytes]:
    """The 429 for a sign-in attempt that must wait `wait` seconds (`busy`: because every place for checking
    a password is taken): (status, headers, page)."""
    page = _page(-(-wait // 60), busy=busy)
    headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", str(len(page))),
        ("Retry-After", str(wait)),
        ("Content-Security-Policy", PAGE_CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Cache-Control", "no-store"),
    ]
    return 429, headers, page


class SignInGate:
    """WSGI (gunicorn config.wsgi)."""

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        if not gated(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")):
            return self.application(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = None
        if form_is_readable(environ.get("CONTENT_TYPE", ""), length):
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = _Replay(body)  # Django reads the form again
        refusal = signin_gate(body=body, ip=environ.get("REMOTE_ADDR", ""))
        if refusal is None:
            environ[COUNTED] = True
            return self.application(environ, start_response)
        status, headers, page = refusal
        start_response(f"{status} Too Many Requests", headers)
        return [page]


class _Replay:
    """The body already read, readable again (wsgi.input)."""

    def __init__(self, body: bytes):
        import io

        self._stream = io.BytesIO(body)

    def read(self, size=-1):
        return self._stream.read(size)

    def readline(self, size=-1):
        return self._stream.readline(size)

    def __iter__(self):
        return iter(self._stream)


class AsgiSignInGate:
    """ASGI (uvicorn config.asgi): wraps the HTTP application.

    The check (one round trip to Redis) is awaited on the event loop, not made in a thread: every other
    request goes on while it is under way, and a flood's burst of checks (its first attempts, and those
    each time an address may try again) takes no thread from the heartbeats' for the interpreter. (Made
    synchronously on the loop, the round trips held up every other request of the process: heartbeats
    waited over a second during a flood. Made in threads, they shared the interpreter lock with the
    heartbeats' threads: bench/login_flood.py, README.)

    A refusal is sent after about SIGNIN_REFUSAL_DELAY seconds (at most its Retry-After). Answered at once, a
    client refused goes straight on to its next attempt, so a flood runs as fast as the CPU allows and the
    refusals take it all from everyone else (heartbeats waited 18x longer: bench/login_flood.py, README);
    a waiting refusal costs no CPU here (a sleeping coroutine and its open socket), and a flooding client
    gets one answer a second. (The WSGI gate cannot do this: a waiting refusal would hold a worker.)
    """

    def __init__(self, application):
        self.application = application
        self._turns = weakref.WeakKeyDictionary()  # event loop -> its _Turns (tests run several loops)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.application(scope, receive, send)
        if scope.get("path", "") not in SIGNIN_PATHS:
            turns = self._turns_here()
            turns.others += 1
            turns.idle.clear()
            try:
                return await self.application(scope, receive, send)
            finally:
                turns.others -= 1
                if not turns.others:
                    turns.idle.set()
        if not gated(scope.get("method", ""), scope["path"]):
            return await self._to_django(scope, receive, send)
        client = scope.get("client") or ("", 0)
        if (known := signin_refused(ip=client[0] or "unknown")) is not None:
            # Refused already in this window (accounts.signin): answered here on the event loop, unread.
            return await self._refuse(refusal(known), send)
        headers = dict(scope.get("headers") or [])
        try:
            length = int(headers[b"content-length"]) if b"content-length" in headers else None
        except ValueError:
            length = 0
        body, received = None, []
        if form_is_readable(headers.get(b"content-type", b"").decode("latin-1"), length):
            chunks, size = [], 0
            while True:
                message = await receive()
                received.append(message)
                if message["type"] != "http.request":
                    return  # the client went away: nobody to answer
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                if size > MAX_FORM_BYTES:
                    break  # not a sign-in form: no username; Django reads the rest
                if not message.get("more_body", False):
                    body = b"".join(chunks)
                    break
        refused = await signin_gate_on_loop(body=body, ip=client[0])
        if refused is None:
            return await self._to_django({**scope, COUNTED: True}, _replay(received, receive), send, attempt=True)
        await self._refuse(refused, send)

    @staticmethod
    async def _refuse(answer, send, *, pause: bool = True):
        status, headers, page = answer
        if pause:
            # Jittered (half to one and a half times the delay): refused together, a flood's clients would
            # come back together, in waves that every other request of the process waits behind.
            delay = settings.SIGNIN_REFUSAL_DELAY * random.uniform(0.5, 1.5)
            await _pause(min(delay, int(dict(headers)["Retry-After"])))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
            }
        )
        await send({"type": "http.response.body", "body": page})

    async def _to_django(self, scope, receive, send, *, attempt: bool = False):
        """A sign-in page or attempt for Django, SIGNIN_CONCURRENT_REQUESTS at a time per process, the rest
        waiting their turn here: under ASGI each runs in a thread of its own, and 200 at once (a flood's
        first requests for the form) share the process's interpreter lock 200 ways with the heartbeats'
        threads. Bounded, the sign-in pages are one small pool of each process, as a proxy routing them to
        workers of their own would make them, and everything else goes straight on.

        An `attempt` (a counted sign-in POST) that waited longer than SIGNIN_QUEUE_TIMEOUT for its turn is
        refused as busy (429, retry in a second) instead: a flood's burst of attempts, all counted at once,
        would otherwise drain through the password check one after another for minutes, and a real
        person's attempt would wait behind them until it timed out. So is one that arrives while
        SIGNIN_QUEUED_ATTEMPTS attempts of this process are already waiting or in Django: with a place or
        two for checking a password in the whole deployment, the ones behind them would only find those
        taken, after a trip through Django each (a flood's first second sent a hundred per process)."""
        loop = asyncio.get_running_loop()
        turns = self._turns_here()
        if attempt:
            if turns.attempts >= settings.SIGNIN_QUEUED_ATTEMPTS:
                return await self._refuse(refusal(1, busy=True), send)
            turns.attempts += 1
        queued_at = loop.time()
        try:
            async with turns.places:
                # Its turn comes when the process's other requests are done (at most SIGNIN_YIELD_SECONDS
                # later): started beside a heartbeat, a sign-in page's Python holds the interpreter lock
                # each time the heartbeat's thread wants it back, after every database round trip.
                if not turns.idle.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(turns.idle.wait(), settings.SIGNIN_YIELD_SECONDS)
                if attempt and loop.time() - queued_at > settings.SIGNIN_QUEUE_TIMEOUT:
                    return await self._refuse(refusal(1, busy=True), send, pause=False)
                return await self.application(scope, receive, send)
        finally:
            if attempt:
                turns.attempts -= 1

    def _turns_here(self) -> "_Turns":
        loop = asyncio.get_running_loop()
        turns = self._turns.get(loop)
        if turns is None:
            turns = self._turns[loop] = _Turns(asyncio.Semaphore(settings.SIGNIN_CONCURRENT_REQUESTS))
        return turns


class _Turns:
    """One event loop's turns at Django's sign-in pages: its places, the attempts waiting or inside, and its
    other HTTP requests under way (`idle` while there are none)."""

    def __init__(self, places: asyncio.Semaphore):
        self.places = places
        self.attempts = 0
        self.others = 0
        self.idle = asyncio.Event()
        self.idle.set()


def _replay(received: list[dict], receive):
    """`receive` giving the messages the gate already took first, then the server's own."""
    pending = list(received)

    async def replayed():
        return pending.pop(0) if pending else await receive()

    return replayed


async def _pause(seconds: float) -> None:
    """The refusal's wait (replaced in tests)."""
    if seconds > 0:
        await asyncio.sleep(seconds)
