import logging

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.utils import timezone

security_log = logging.getLogger("security")

DENIED = {401, 403, 404, 405, 429}


class AccessDeniedLogMiddleware:
    """Logs every refused request (who, what, when in UTC), for pages and API alike.

    A 404 is included because that is what someone outside a session is told.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code in DENIED:
            user = getattr(request, "user", None)
            who = f"{user.pk}:{user.get_username()}" if user is not None and user.is_authenticated else "anonymous"
            fields = {
                "status": response.status_code,
                "user": who,
                "method": request.method,
                "path": request.path,
                "ip": request.META.get("REMOTE_ADDR"),
                "at": timezone.now().isoformat(),
            }
            # Also as fields of the JSON log line (config.logging), which escapes a %0a in the path.
            security_log.warning(
                "access refused status=%(status)s user=%(user)s method=%(method)s path=%(path)s ip=%(ip)s at=%(at)s",
                fields,
                extra={"event": "access_refused", **{k: v for k, v in fields.items() if k != "at"}},
            )
        return response


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware (CONTENT_SECURITY_POLICY in settings), with this host's own WebSocket added to
    connect-src: browsers before CSP level 3 do not count ws(s):// to the same host as 'self'."""

    def get_policy_parts(self, request, response, report_only=False):
        parts = super().get_policy_parts(request, response, report_only)
        try:
            host = request.get_host()
        except DisallowedHost:  # answered 400 anyway; no host of ours to name
            return parts
        socket = f"{'wss' if request.is_secure() else 'ws'}://{host}"
        update = dict(parts.update or {})
        update["connect-src"] = [*update.get("connect-src", []), socket]
        parts.update = update
        return parts


class HealthCheckMiddleware:
    """`GET /healthz` for load balancers, answered before anything else runs (first in MIDDLEWARE).

    200 when the database and, if configured, Redis (REDIS_URL: the channel layer) answer; 503
    otherwise, naming what failed. No authentication, no host check (probes come by IP), no HTTPS
    redirect, and never a session or a user: nothing after this middleware runs for it.
    """

    PATH = "/healthz"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path != self.PATH:
            return self.get_response(request)
        from django.http import JsonResponse

        if request.method not in ("GET", "HEAD"):
            return JsonResponse({"status": "method not allowed"}, status=405)
        checks = {"database": _database_answers()}
        if settings.REDIS_URL:
            checks["redis"] = _redis_answers(settings.REDIS_URL)
        healthy = all(checks.values())
        body = {"status": "ok" if healthy else "unavailable", **{k: "ok" if v else "down" for k, v in checks.items()}}
        response = JsonResponse(body, status=200 if healthy else 503)
        response["Cache-Control"] = "no-store"
        return response


def _database_answers() -> bool:
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


_redis_clients: dict = {}


def _redis_answers(url: str) -> bool:
    import redis

    client = _redis_clients.get(url)
    if client is None:
        client = _redis_clients[url] = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except Exception:
        return False
