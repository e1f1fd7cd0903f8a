import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.views.defaults import page_not_found as django_page_not_found
from django.views.defaults import server_error as django_server_error

from core.api import RETRY_AFTER_SECONDS, error_body, service_unavailable_body


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
