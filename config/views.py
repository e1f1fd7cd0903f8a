import sys

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.views.defaults import bad_request as django_bad_request
from django.views.defaults import page_not_found as django_page_not_found
from django.views.defaults import permission_denied as django_permission_denied
from django.views.defaults import server_error as django_server_error

from core.api import RETRY_AFTER_SECONDS, error_body, service_unavailable_body, too_large_body


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def bad_request(request, exception, template_name="400.html"):
    """Whatever Django refuses before a view answers (a body over DATA_UPLOAD_MAX_MEMORY_SIZE, too many
    fields, a bad Host...) is JSON on /api/: 413 for a body too large, naming the limit; 400 otherwise."""
    if _is_api(request):
        if isinstance(exception, RequestDataTooBig):
            return JsonResponse(too_large_body(), status=413)
        return JsonResponse(error_body("malformed_request", "The request could not be read."), status=400)
    return django_bad_request(request, exception, template_name)


def permission_denied(request, exception, template_name="403.html"):
    if _is_api(request):
        return JsonResponse(error_body("permission_denied", "You do not have permission to do this."), status=403)
    return django_permission_denied(request, exception, template_name)


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: JSON on /api/ (DRF checks CSRF itself; this covers anything that does not)."""
    if _is_api(request):
        return JsonResponse(error_body("csrf_failed", f"CSRF check failed: {reason}"), status=403)
    from django.views.csrf import csrf_failure as django_csrf_failure

    return django_csrf_failure(request, reason)


def page_not_found(request, exception, template_name="404.html"):
    """An /api/ URL that matches no route answers in the API's JSON error shape, like every other API 404."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return django_page_not_found(request, exception, template_name)


def server_error(request, template_name="500.html"):
    """A database that went away is a 503 the client can retry, not a 500; API callers get JSON."""
    error = sys.exc_info()[1]
    is_api = request.path.startswith("/api/")
    if isinstance(error, (OperationalError, InterfaceError)):
        if is_api:
            response = JsonResponse(service_unavailable_body(), status=503)
        else:
            response = HttpResponse(
                "<!doctype html><title>Unavailable</title><h1>Temporarily unavailable</h1>"
                "<p>We could not reach the database. Please try again in a moment.</p>",
                status=503,
            )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    if is_api:
        return JsonResponse(error_body("server_error", "Something went wrong on our side."), status=500)
    return django_server_error(request, template_name)
