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
            security_log.warning(
                "access refused status=%s user=%s method=%s path=%s ip=%s at=%s",
                response.status_code,
                who,
                request.method,
                request.path,
                request.META.get("REMOTE_ADDR"),
                timezone.now().isoformat(),
            )
        return response
