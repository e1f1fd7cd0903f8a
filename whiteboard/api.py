"""HTTP doors to presence tracking: thin views that validate, call the service, serialise."""

import json
import uuid

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.ratelimit import Rate, ScopedUserRateThrottle
from core.api import ERRORS, RETRY_AFTER, THROTTLED, ErrorSerializer, validated
from whiteboard import services
from whiteboard.models import VISIBILITIES, Visibility, WhiteboardSession

TAG = "whiteboard-tracking"


class ConnectionIdField(serializers.UUIDField):
    """A UUID written as a JSON string. DRF's own field also takes a number (as the UUID's integer)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ConnectionSerializer(serializers.Serializer):
    connection_id = serializers.UUIDField()
    role = serializers.ChoiceField(choices=["tutor", "student"])
    heartbeat_interval = serializers.IntegerField(help_text="Seconds between heartbeats the client must keep.")
    timeout_seconds = serializers.IntegerField(help_text="The connection counts as gone after this much silence.")
    server_time = serializers.DateTimeField()


def _connection_response(result: services.ConnectionResult) -> Response:
    """`ConnectionSerializer`'s body, built directly: every heartbeat answers with it.

    DRF's JSON encoder writes the UUID and the UTC time exactly as the serializer's fields
    would (a test holds the two equal); the serializer stays as the schema's description.
    """
    return Response(
        {
            "connection_id": result.connection_id,
            "role": result.role,
            "heartbeat_interval": result.heartbeat_interval,
            "timeout_seconds": result.timeout_seconds,
            "server_time": timezone.now(),
        }
    )


class ConnectApi(APIView):
    throttle_classes = [ScopedUserRateThrottle]
    throttle_scope = "connect"

    @extend_schema_serializer(component_name="ConnectInput")
    class InputSerializer(serializers.Serializer):
        connection_id = ConnectionIdField(required=False, help_text="Client-made id; the server makes one if absent.")
        visibility = serializers.ChoiceField(choices=Visibility.choices, default=Visibility.VISIBLE)

    @extend_schema(
        tags=[TAG],
        operation_id="whiteboard_connect",
        request=InputSerializer,
        parameters=[RETRY_AFTER],
        responses={200: ConnectionSerializer, 409: ErrorSerializer, **ERRORS, **THROTTLED},
        summary="A tab or socket of the signed-in participant opened the whiteboard.",
    )
    def post(self, request, session_id: int):
        data = validated(self.InputSerializer, request)
        result = services.presence_connect(
            whiteboard_id=session_id,
            user=request.user,
            connection_id=data.get("connection_id"),
            visibility=data["visibility"],
        )
        return _connection_response(result)


class HeartbeatApi(APIView):
    # Throttled per user by the service (THROTTLE_HEARTBEAT): on PostgreSQL within the heartbeat's own
    # statement, which spares every heartbeat a round trip to the cache.
    throttle_scope = "heartbeat"
    throttle_classes = []  # not the default throttle as well: counted once, by the service

    @extend_schema_serializer(component_name="HeartbeatInput")
    class InputSerializer(serializers.Serializer):
        connection_id = ConnectionIdField()
        visibility = serializers.ChoiceField(choices=Visibility.choices)

    @extend_schema(
        tags=[TAG],
        operation_id="whiteboard_heartbeat",
        request=InputSerializer,
        parameters=[RETRY_AFTER],
        responses={
            200: ConnectionSerializer,
            409: OpenApiResponse(
                ErrorSerializer, description="`connection_closed`: the server closed this connection; connect again."
            ),
            **ERRORS,
            **THROTTLED,
        },
        summary="The connection is still there (every heartbeat_interval seconds).",
    )
    def post(self, request, session_id: int):
        data = _plain_heartbeat(request) or validated(self.InputSerializer, request)
        result = services.presence_heartbeat(
            whiteboard_id=session_id,
            user=request.user,
            connection_id=data["connection_id"],
            visibility=data["visibility"],
            rate=Rate.of_scope(self.throttle_scope),
        )
        return _connection_response(result)


class DisconnectApi(APIView):
    throttle_scope = "disconnect"  # per user (THROTTLE_DISCONNECT), by REST_FRAMEWORK's default throttle

    @extend_schema_serializer(component_name="DisconnectInput")
    class InputSerializer(serializers.Serializer):
        connection_id = ConnectionIdField()

    @extend_schema_serializer(component_name="DisconnectResult")
    class OutputSerializer(serializers.Serializer):
        connection_id = serializers.UUIDField()
        role = serializers.CharField()
        already_closed = serializers.BooleanField()

    @extend_schema(
        tags=[TAG],
        operation_id="whiteboard_disconnect",
        request=InputSerializer,
        responses={200: OutputSerializer, **ERRORS},
        summary="The connection closed (idempotent).",
    )
    def post(self, request, session_id: int):
        data = validated(self.InputSerializer, request)
        result = services.presence_disconnect(
            whiteboard_id=session_id, user=request.user, connection_id=data["connection_id"]
        )
        return Response(self.OutputSerializer(result).data)


class ParticipantStatusSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(allow_null=True)
    connected = serializers.BooleanField()
    connected_at = serializers.DateTimeField(allow_null=True)
    disconnected_at = serializers.DateTimeField(allow_null=True)
    last_activity_at = serializers.DateTimeField(allow_null=True)
    total_active_seconds = serializers.IntegerField()
    hidden_seconds = serializers.IntegerField()
    open_connections = serializers.IntegerField()
    reconnects = serializers.IntegerField()


class ConnectionStatusApi(APIView):
    throttle_scope = "connection-status"  # THROTTLE_CONNECTION_STATUS: pages poll it every 5 s per tab

    @extend_schema_serializer(component_name="ConnectionStatus")
    class OutputSerializer(serializers.Serializer):
        whiteboard_id = serializers.IntegerField()
        session_id = serializers.IntegerField(allow_null=True)
        server_time = serializers.DateTimeField()
        tutor = ParticipantStatusSerializer()
        student = ParticipantStatusSerializer()

    @extend_schema(
        tags=[TAG],
        operation_id="whiteboard_connection_status",
        responses={200: OutputSerializer, 401: ERRORS[401], 404: ERRORS[404]},
        summary="Live connection metrics of tutor and student.",
    )
    def get(self, request, session_id: int):
        whiteboard = _visible_whiteboard(request.user, session_id)
        now = timezone.now()
        snapshot = services.presence_snapshot(whiteboard=whiteboard, now=now)
        session = getattr(whiteboard, "tutoring_session", None)
        return Response(
            self.OutputSerializer(
                {
                    "whiteboard_id": whiteboard.pk,
                    "session_id": session.pk if session else None,
                    "server_time": now,
                    **snapshot,
                }
            ).data
        )


def _visible_whiteboard(user, whiteboard_id: int) -> WhiteboardSession:
    """The whiteboard if the user may see it: its tutor, its student, or staff. 404 otherwise."""
    queryset = WhiteboardSession.objects.select_related("tutoring_session")
    if not user.is_staff:
        queryset = queryset.of_participant(user)
    whiteboard = queryset.filter(pk=whiteboard_id).first()
    if whiteboard is None:
        raise Http404
    return whiteboard


def _plain_heartbeat(request) -> dict | None:
    """The body every tracker sends, `{"connection_id": "<uuid>", "visibility": "visible"|"hidden"}`, read
    without DRF's parser and serializer: a heartbeat is the one request that every participant sends
    every 15 s, and those two cost more than the rest of the view.

    Accepts only what DRF's JSON parser and `HeartbeatApi.InputSerializer` accept too, and gives the
    same values (tests hold the two together); None for anything else, which then takes DRF's way
    and gets its error messages.
    """
    media_type = request.META.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
    length = request.META.get("CONTENT_LENGTH", "")
    if media_type != "application/json" or not length.isdigit() or not 0 < int(length) <= 1024:
        return None
    try:
        data = json.loads(request.body, parse_constant=_refuse)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply (DRF's way answers 400)
        return None
    if type(data) is not dict:
        return None
    connection_id, visibility = data.get("connection_id"), data.get("visibility")
    if type(connection_id) is not str or type(visibility) is not str or visibility not in VISIBILITIES:
        return None
    try:
        return {"connection_id": uuid.UUID(connection_id), "visibility": visibility}
    except ValueError:
        return None


def _refuse(constant: str):
    raise ValueError(f"{constant} is not JSON")  # NaN and Infinity: DRF's parser refuses them too
