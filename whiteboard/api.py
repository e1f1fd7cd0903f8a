"""HTTP door to presence tracking: one thin viewset whose actions validate, call the service, serialise."""

import uuid

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, viewsets
from rest_framework.response import Response

from accounts.ratelimit import Rate
from core.api import ERRORS, RETRY_AFTER, THROTTLED, ErrorSerializer, validated
from core.parsers import json_or_none
from whiteboard import board, services
from whiteboard.models import VISIBILITIES, Visibility
from whiteboard.selectors import presence_snapshot, whiteboard_for_user

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


class PresenceWindowErrorSerializer(ErrorSerializer):
    """A connect's 409: the error body, with the session's presence window when that is the reason."""

    opens_at = serializers.DateTimeField(required=False, help_text="`outside_presence_window`: when the window opens.")
    closes_at = serializers.DateTimeField(
        required=False, help_text="`outside_presence_window`: when the window closes (exclusive)."
    )


CONNECT_CONFLICT = OpenApiResponse(
    PresenceWindowErrorSerializer,
    description=(
        "`outside_presence_window`: presence is recorded only from PRESENCE_JOIN_WINDOW_MINUTES (default 15) "
        "before the session's start until as long after its end; `opens_at` and `closes_at` say when. "
        "`connection_id_taken`: the id belongs to someone else. `connection_closed`: connect with a new id."
    ),
)


@extend_schema_serializer(component_name="ConnectInput")
class ConnectInputSerializer(serializers.Serializer):
    connection_id = ConnectionIdField(required=False, help_text="Client-made id; the server makes one if absent.")
    visibility = serializers.ChoiceField(choices=Visibility.choices, default=Visibility.VISIBLE)


@extend_schema_serializer(component_name="HeartbeatInput")
class HeartbeatInputSerializer(serializers.Serializer):
    connection_id = ConnectionIdField()
    visibility = serializers.ChoiceField(choices=Visibility.choices)


@extend_schema_serializer(component_name="DisconnectInput")
class DisconnectInputSerializer(serializers.Serializer):
    connection_id = ConnectionIdField()


@extend_schema_serializer(component_name="DisconnectResult")
class DisconnectResultSerializer(serializers.Serializer):
    connection_id = serializers.UUIDField()
    role = serializers.CharField()
    already_closed = serializers.BooleanField()


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
    visibility = serializers.ChoiceField(
        choices=Visibility.choices,
        allow_null=True,
        help_text="`visible` while some open tab is visible, `hidden` while every open tab is in the background "
        "(still connected: hidden time counts as presence, in `hidden_seconds`); null when not connected.",
    )


@extend_schema_serializer(component_name="ConnectionStatus")
class ConnectionStatusSerializer(serializers.Serializer):
    whiteboard_id = serializers.IntegerField()
    session_id = serializers.IntegerField(allow_null=True)
    server_time = serializers.DateTimeField()
    tutor = ParticipantStatusSerializer()
    student = ParticipantStatusSerializer()


# Presence on one whiteboard session, as its tutor's or student's whiteboard client reports it.
# (Comments, not a docstring: drf-spectacular would publish a docstring as every operation's description.)
# Per action, per user: connect (THROTTLE_CONNECT), disconnect (THROTTLE_DISCONNECT) and connection-status
# (THROTTLE_CONNECTION_STATUS: pages poll it every 5 s per tab) by REST_FRAMEWORK's default throttle; the
# heartbeat is counted by the service (THROTTLE_HEARTBEAT), on PostgreSQL within the heartbeat's own
# statement, which spares every heartbeat a round trip to the cache: no DRF throttle for it, so it is
# counted once.
class WhiteboardTrackingViewSet(viewsets.ViewSet):
    SCOPES = {
        "connect": "connect",
        "heartbeat": "heartbeat",
        "disconnect": "disconnect",
        "connection_status": "connection-status",
    }

    @property
    def throttle_scope(self) -> str | None:
        """The action's rate in REST_FRAMEWORK's DEFAULT_THROTTLE_RATES (`ScopedUserRateThrottle` reads it)."""
        return self.SCOPES.get(getattr(self, "action", None))

    def get_throttles(self):
        return [] if self.action == "heartbeat" else super().get_throttles()

    @extend_schema(
        tags=[TAG],
        operation_id="whiteboard_connect",
        request=ConnectInputSerializer,
        parameters=[RETRY_AFTER],
        responses={200: ConnectionSerializer, 409: CONNECT_CONFLICT, **ERRORS, **THROTTLED},
        summary="A tab or socket of the signed-in participant opened the whiteboard.",
    )
    def connect(self, request, session_id: int):
        data = validated(ConnectInputSerializer, request)
        result = services.presence_connect(
            whiteboard_id=session_id,
            user=request.user,
            connection_id=data.get("connection_id"),
            visibility=data["visibility"],
        )
        return _connection_response(result)

    @extend_schema(
        tags=[TAG],
        operation_id="whiteboard_heartbeat",
        request=HeartbeatInputSerializer,
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
    def heartbeat(self, request, session_id: int):
        data = _plain_heartbeat(request) or validated(HeartbeatInputSerializer, request)
        result = services.presence_heartbeat(
            whiteboard_id=session_id,
            user=request.user,
            connection_id=data["connection_id"],
            visibility=data["visibility"],
            rate=Rate.of_scope(self.throttle_scope),
        )
        return _connection_response(result)

    @extend_schema(
        tags=[TAG],
        operation_id="whiteboard_disconnect",
        request=DisconnectInputSerializer,
        responses={200: DisconnectResultSerializer, **ERRORS},
        summary="The connection closed (idempotent).",
    )
    def disconnect(self, request, session_id: int):
        data = validated(DisconnectInputSerializer, request)
        result = services.presence_disconnect(
            whiteboard_id=session_id, user=request.user, connection_id=data["connection_id"]
        )
        return Response(DisconnectResultSerializer(result).data)

    @extend_schema(
        tags=[TAG],
        operation_id="whiteboard_connection_status",
        responses={200: ConnectionStatusSerializer, 401: ERRORS[401], 404: ERRORS[404]},
        summary="Live connection metrics of tutor and student.",
    )
    def connection_status(self, request, session_id: int):
        # Staff may read it (they follow sessions); the whiteboard page gives them 404.
        whiteboard = whiteboard_for_user(user=request.user, whiteboard_id=session_id, staff_may_read=True)
        now = timezone.now()
        snapshot = presence_snapshot(whiteboard=whiteboard, now=now)
        session = getattr(whiteboard, "tutoring_session", None)
        return Response(
            ConnectionStatusSerializer(
                {
                    "whiteboard_id": whiteboard.pk,
                    "session_id": session.pk if session else None,
                    "server_time": now,
                    **snapshot,
                }
            ).data
        )


def _plain_heartbeat(request) -> dict | None:
    """The body every tracker sends, `{"connection_id": "<uuid>", "visibility": "visible"|"hidden"}`, read
    without DRF's parser and serializer: a heartbeat is the one request that every participant sends
    every 15 s, and those two cost more than the rest of the view.

    Accepts only what DRF's JSON parser and `HeartbeatInputSerializer` accept too, and gives the
    same values (tests hold the two together); None for anything else, which then takes DRF's way
    and gets its error messages.
    """
    media_type = request.META.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
    length = request.META.get("CONTENT_LENGTH", "")
    if media_type != "application/json" or not length.isdigit() or not 0 < int(length) <= 1024:
        return None
    data = json_or_none(request.body, parse_constant=_refuse)
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


# --- the board, read-only (issue 16) ---------------------------------------------------------------------


class BoardStrokeSerializer(serializers.Serializer):
    sequence = serializers.IntegerField()
    role = serializers.ChoiceField(choices=["tutor", "student"])
    tool = serializers.ChoiceField(choices=["pen", "eraser"])
    colour = serializers.CharField()
    width = serializers.IntegerField()
    points = serializers.ListField(
        child=serializers.FloatField(), help_text="Flat list x0, y0, x1, y1, ... in board units (1000 across)."
    )
    ended = serializers.BooleanField(help_text="False while the stroke is still being drawn.")


@extend_schema_serializer(component_name="BoardPage")
class BoardPageSerializer(serializers.Serializer):
    strokes = BoardStrokeSerializer(many=True)
    cleared_through = serializers.IntegerField(help_text="Sequence number of the last clear (0: never cleared).")
    last_sequence = serializers.IntegerField()
    next_after = serializers.IntegerField(allow_null=True, help_text="Pass as `after` for the next page; null: done.")


class BoardPageQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, default=0, help_text="The last sequence number already read.")


# The board of one whiteboard session, read-only: its tutor and student, and staff (who may watch, never
# draw: opening the board never records presence). The participants' own board comes over the presence socket.
class BoardViewSet(viewsets.ViewSet):
    throttle_scope = "api"

    @extend_schema(
        tags=[TAG],
        operation_id="whiteboard_strokes",
        parameters=[BoardPageQuerySerializer],
        responses={200: BoardPageSerializer, 400: ERRORS[400], 401: ERRORS[401], 404: ERRORS[404]},
        summary="The board as it stands, in sequence order, a page of strokes at a time.",
    )
    def strokes(self, request, session_id: int):
        whiteboard = whiteboard_for_user(user=request.user, whiteboard_id=session_id, staff_may_read=True)
        query = BoardPageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(board.board_replay(whiteboard_id=whiteboard.pk, after=query.validated_data["after"]))
