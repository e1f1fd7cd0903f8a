"""API plumbing shared by every endpoint: one JSON error shape, `{"code", "detail"[, "errors"][, facts]}`.

A domain error's extra facts (`DomainError(..., opens_at=...)`) are added to its body as they are."""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError, Throttled

logger = logging.getLogger(__name__)

# HTTP status for each domain error code; anything not listed is a conflict with current state.
DOMAIN_ERROR_STATUS = {
    "not_found": status.HTTP_404_NOT_FOUND,
    "unknown_connection": status.HTTP_404_NOT_FOUND,
    "permission_denied": status.HTTP_403_FORBIDDEN,
    "invalid": status.HTTP_400_BAD_REQUEST,
}

DRF_CODES = {
    exceptions.ParseError: "malformed_request",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


class ErrorSerializer(serializers.Serializer):
    """The error body, for the schema."""

    code = serializers.CharField()
    detail = serializers.CharField()
    errors = serializers.DictField(required=False)


# The error answers most operations share, for their schema.
ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Malformed or invalid request body."),
    401: OpenApiResponse(ErrorSerializer, description="Not signed in / no valid token."),
    404: OpenApiResponse(ErrorSerializer, description="No such whiteboard session you take part in."),
}

# Connect and heartbeat are throttled per user (THROTTLE_CONNECT, THROTTLE_HEARTBEAT).
THROTTLED = {
    429: OpenApiResponse(
        ErrorSerializer, description="`throttled`: too many requests from this user; retry after `Retry-After` seconds."
    )
}
RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    response=[429],
    required=True,
    description="Seconds to wait before trying again.",
)


def error_body(code: str, detail: str, **extra) -> dict:
    return {"code": code, "detail": detail, **extra}


RETRY_AFTER_SECONDS = 5


def service_unavailable_body() -> dict:
    """What every door answers while the database cannot be reached."""
    return error_body("service_unavailable", "The service is temporarily unavailable; retry shortly.")


def _answer_with_retry_after(description: str) -> dict:
    """A schema answer: the Error body and a required `Retry-After` header."""
    return {
        "description": description,
        "headers": {
            "Retry-After": {
                "schema": {"type": "integer"},
                "required": True,
                "description": "Seconds to wait before trying again.",
            }
        },
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _operations(result):
    """Every operation of a schema being post-processed."""
    for path in result.get("paths", {}).values():
        for method, operation in path.items():
            if method != "parameters":
                yield operation


def document_service_unavailable(result, generator, request, public):
    """Schema postprocessing: every operation may answer 503 (`exception_handler` below); say so once for all."""
    unavailable = _answer_with_retry_after(
        "`service_unavailable`: the database cannot be reached; retry after `Retry-After` seconds."
    )
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(
        "Error",
        {
            "type": "object",
            "required": ["code", "detail"],
            "properties": {"code": {"type": "string"}, "detail": {"type": "string"}},
        },
    )
    for operation in _operations(result):
        operation["responses"].setdefault("503", unavailable)
    return result


def too_large_body() -> dict:
    """413: the body is over DATA_UPLOAD_MAX_MEMORY_SIZE, which the message names."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return error_body(
        "request_too_large", f"The request body is larger than the limit of {limit} bytes ({limit / 2**20:.1f} MiB)."
    )


def document_throttled(result, generator, request, public):
    """Schema postprocessing: every operation is throttled per user (REST_FRAMEWORK's default throttle)."""
    for operation in _operations(result):
        operation["responses"].setdefault(
            "429",
            _answer_with_retry_after(
                "`throttled`: too many requests from this user; retry after `Retry-After` seconds."
            ),
        )
    return result


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        return Response(too_large_body(), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, Throttled):
        exc = exceptions.Throttled(wait=exc.wait)  # DRF's 429 body and Retry-After, as its throttles give
    elif isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, **exc.extra), status=DOMAIN_ERROR_STATUS.get(exc.code, 409))
    if isinstance(exc, (OperationalError, InterfaceError)) or type(exc) is DatabaseError:
        # The database is unreachable: say so quickly, so clients retry instead of seeing a 500 page.
        logger.error("database unavailable: %s", exc)
        response = Response(service_unavailable_body(), status=status.HTTP_503_SERVICE_UNAVAILABLE)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("invalid", "The request has invalid fields.", errors=_field_errors(exc.detail))
        return response
    code = next((c for cls, c in DRF_CODES.items() if isinstance(exc, cls)), "error")
    response.data = error_body(code, str(exc.detail))
    return response


def _field_errors(detail):
    """DRF's nested ErrorDetail structure as plain strings; non-field errors under `non_field_errors`."""
    if isinstance(detail, dict):
        return {key: _field_errors(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_field_errors(item) for item in detail]
    return str(detail)


def validated(serializer_class, request) -> dict:
    if not isinstance(request.data, dict):
        raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
