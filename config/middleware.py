import logging

from csp.middleware import CSPMiddleware
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
