"""The WebSocket door: which paths lead to which consumer, and who may knock.

A browser always sends `Origin`: its socket is let in only from the site's own origin or one in
CSRF_TRUSTED_ORIGINS, as Django's CSRF check lets in a form post; anything else is refused at the
handshake (HTTP 403), so another site's page can never open a socket with a visitor's cookie. A
client without `Origin` (an integrator's server) is let in, but its session cookie is ignored: it
must authenticate by token (`{"type": "auth", ...}` as its first message).
"""

from urllib.parse import urlsplit

from channels.auth import AuthMiddleware
from channels.security.websocket import WebsocketDenier
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.urls import path

from attendance.consumers import LiveConsumer
from whiteboard.consumers import PresenceConsumer

websocket_urlpatterns = [
    path("ws/whiteboard/sessions/<int:whiteboard_id>/", PresenceConsumer.as_asgi()),
    path("ws/live/", LiveConsumer.as_asgi()),
]


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def _is_secure(scope) -> bool:
    if scope.get("scheme") in ("wss", "https"):
        return True
    proxy_header = settings.SECURE_PROXY_SSL_HEADER
    if proxy_header:  # ("HTTP_X_FORWARDED_PROTO", "https"): trusted only when BEHIND_TLS_PROXY says so
        name = proxy_header[0].removeprefix("HTTP_").lower().replace("_", "-").encode()
        return _header(scope, name) == proxy_header[1]
    return False


def origin_allowed(scope, origin: str) -> bool:
    """The origin is the site's own (scheme and host of this very request) or listed in CSRF_TRUSTED_ORIGINS."""
    parts = urlsplit(origin)
    if not parts.scheme or not parts.netloc:
        return False
    normalised = f"{parts.scheme}://{parts.netloc}".lower()
    if normalised in {o.lower().rstrip("/") for o in settings.CSRF_TRUSTED_ORIGINS}:
        return True
    host = _header(scope, b"host")
    own = f"{'https' if _is_secure(scope) else 'http'}://{host}".lower() if host else None
    return normalised == own


class OriginCheck:
    """ASGI middleware for WebSockets: refuse foreign browser origins (403); mark clients without one.

    Sets `scope["origin"]`: "browser" (allowed Origin) or "none" (no Origin: token only).
    """

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        origin = _header(scope, b"origin")
        if origin is None:
            # No browser: a cookie it sends proves nothing about a person at a page. Token only.
            scope = {**scope, "origin": "none", "headers": [h for h in scope["headers"] if h[0] != b"cookie"]}
        elif origin_allowed(scope, origin):
            scope = {**scope, "origin": "browser"}
        else:
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


class SessionAuthMiddleware(AuthMiddleware):
    """Channels' AuthMiddleware (scope["user"] from the Django session), without its trip to the database
    thread for a socket that carries no session cookie: an integrator's, every client without `Origin`.

    That socket's user is anonymous whatever the database says, and it authenticates by token in its first
    message. Channels would still look it up on the process's one thread-sensitive thread, where in a
    reconnect storm every socket's handshake queued behind every other's (bench/ws_bench.py).
    """

    async def resolve_scope(self, scope):
        if scope["session"].session_key is None:
            scope["user"]._wrapped = AnonymousUser()
        else:
            await super().resolve_scope(scope)


def auth_stack(inner):
    """channels.auth.AuthMiddlewareStack, with `SessionAuthMiddleware`."""
    return CookieMiddleware(SessionMiddleware(SessionAuthMiddleware(inner)))
