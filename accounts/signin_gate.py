"""The production entry point's first check (config/wsgi.py): a throttled sign-in POST is refused before
Django handles the request at all.

Under a flood every refusal is paid for by an app worker while heartbeats queue behind it; this answer
costs one cache read and no middleware, session, CSRF check, form or template. What it refuses is exactly
what `accounts.middleware.SignInThrottleMiddleware` would (same `signin_wait`), which stays in place for
everything that does not come through this entry point (tests, runserver).
"""

import functools
import urllib.parse

from django.template.loader import render_to_string

from accounts.signin import signin_attempt

SIGNIN_PATHS = frozenset({"/accounts/login/", "/admin/login/"})
MAX_FORM_BYTES = 16 * 1024  # a sign-in form is a few hundred bytes
# The page's own needs only: its stylesheet and logo.
PAGE_CSP = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'"


@functools.cache
def _page(minutes: int) -> bytes:
    """The throttled page (templates/registration/throttled.html), rendered once per wait in minutes."""
    return render_to_string("registration/throttled.html", {"minutes": minutes}).encode()


class SignInGate:
    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") not in SIGNIN_PATHS:
            return self.application(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        username = None
        if 0 < length <= MAX_FORM_BYTES and environ.get("CONTENT_TYPE", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = _Replay(body)  # Django reads the form again
            username = urllib.parse.parse_qs(body.decode("latin-1")).get("username", [None])[0]
        wait = signin_attempt(username=username, ip=environ.get("REMOTE_ADDR") or "unknown")
        if wait is None:
            environ["signin.counted"] = True  # the middleware does not count it again
            return self.application(environ, start_response)
        page = _page(-(-wait // 60))
        start_response(
            "429 Too Many Requests",
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", str(len(page))),
                ("Retry-After", str(wait)),
                ("Content-Security-Policy", PAGE_CSP),
                ("X-Content-Type-Options", "nosniff"),
                ("X-Frame-Options", "DENY"),
                ("Cache-Control", "no-store"),
            ],
        )
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
