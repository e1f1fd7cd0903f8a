import logging

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
