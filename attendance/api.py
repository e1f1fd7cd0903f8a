"""HTTP door to attendance: one viewset whose actions validate, call the service, serialise.

Wired with `as_view({...})` in `attendance/urls.py`, so every path (no trailing slash) and URL
name stays as the design notes give them.
"""

from django.utils import timezone
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, viewsets
from rest_framework.response import Response

from attendance import services
from attendance.models import ATTENDANCE_FIELDS, AttendanceChange, AttendanceStatus, DecisionAction, TutoringSession
from attendance.selectors import session_for_tutor_or_staff
from attendance.statuses import UNKNOWN
from core.api import ERRORS, ErrorSerializer, validated

TAG = "attendance"


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField(source="get_full_name")


class AttendanceSerializer(serializers.ModelSerializer):
    session_id = serializers.IntegerField(source="pk")
    attendance_marked_by = UserRefSerializer(allow_null=True)

    class Meta:
        model = TutoringSession
        fields = ["session_id", *ATTENDANCE_FIELDS]


class MetricsSerializer(serializers.Serializer):
    first_joined_at = serializers.DateTimeField(allow_null=True)
    last_seen_at = serializers.DateTimeField(allow_null=True)
    active_seconds = serializers.IntegerField()
    coverage = serializers.FloatField()
    minutes_late = serializers.FloatField()
    minutes_left_early = serializers.FloatField()
    reconnects = serializers.IntegerField()
    hidden_seconds = serializers.IntegerField()


class ParticipantSuggestionSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[*AttendanceStatus.values, UNKNOWN])
    confidence = serializers.FloatField(min_value=0, max_value=1)
    reasons = serializers.ListField(child=serializers.CharField())
    metrics = MetricsSerializer()


class SuggestionSerializer(serializers.Serializer):
    session_id = serializers.IntegerField()
    final = serializers.BooleanField(help_text="The session is over: the suggestion will not change.")
    tutor = ParticipantSuggestionSerializer()
    student = ParticipantSuggestionSerializer()
    together_seconds = serializers.IntegerField(help_text="Seconds both were present at once, inside the window.")
    policy = serializers.DictField(help_text="The thresholds used.")


class BodyRequiredSchema(AutoSchema):
    """No single field is required, but an empty body never is valid: say the body is required."""

    def _get_request_body(self, direction="request"):
        body = super()._get_request_body(direction)
        return body and {**body, "required": True}


class JsonBooleanField(serializers.BooleanField):
    """JSON true or false, as the schema says. DRF's BooleanField also takes 0, 1, "yes", "true"... so a
    client sending `0` beside a status would be marking by hand while believing it declined something."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        self.fail("invalid", input=data)


@extend_schema_serializer(component_name="AttendanceMarkInput")
class AttendanceMarkInputSerializer(serializers.Serializer):
    tutor_attendance_status = serializers.ChoiceField(choices=AttendanceStatus.choices, required=False)
    student_attendance_status = serializers.ChoiceField(choices=AttendanceStatus.choices, required=False)
    apply_suggestion = JsonBooleanField(required=False, default=False)
    notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    def validate(self, data):
        statuses = {"tutor_attendance_status", "student_attendance_status"} & data.keys()
        if data["apply_suggestion"] and statuses:
            raise serializers.ValidationError("Either apply the suggestion or give statuses, not both.")
        if not data["apply_suggestion"] and not statuses:
            raise serializers.ValidationError("Give at least one status, or apply_suggestion: true.")
        return data


GIVES_A_STATUS = [{"required": ["tutor_attendance_status"]}, {"required": ["student_attendance_status"]}]


class AttendanceMarkInputSchema(OpenApiSerializerExtension):
    """The schema states the input's rule (`validate`): apply the suggestion, or give a status; not both.

    The `enum`s sit under `not` on purpose: drf-spectacular's enum extraction walks properties inside
    `oneOf` and would merge `[true]` and `[false]` into one component.
    """

    target_class = AttendanceMarkInputSerializer

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return {
            **schema,
            "oneOf": [
                {
                    "title": "Accept the suggestion",
                    "required": ["apply_suggestion"],
                    "not": {"anyOf": [*GIVES_A_STATUS, {"properties": {"apply_suggestion": {"enum": [False]}}}]},
                },
                {
                    "title": "Mark by hand",
                    "anyOf": GIVES_A_STATUS,
                    "not": {"required": ["apply_suggestion"], "properties": {"apply_suggestion": {"enum": [True]}}},
                },
            ],
        }


class AttendanceChangeSerializer(serializers.ModelSerializer):
    actor = UserRefSerializer(allow_null=True)
    action = serializers.ChoiceField(
        source="decision",
        choices=DecisionAction.choices,
        read_only=True,
        help_text="What was done with the suggestion: accepted it, or chose statuses (derived for old rows).",
    )

    class Meta:
        model = AttendanceChange
        fields = [
            "id",
            "changed_at",
            "actor",
            "source",
            "previous_source",
            "old_tutor_status",
            "new_tutor_status",
            "old_student_status",
            "new_student_status",
            "notes",
            "suggestion",
            "action",
        ]


# A session's attendance: the suggestion, the mark, the history; its tutor and staff only (404 for others).
# No docstring: drf-spectacular would publish it as every operation's description.
class AttendanceViewSet(viewsets.ViewSet):
    # Only `mark` has a body; for the GET actions this schema changes nothing.
    schema = BodyRequiredSchema()

    @extend_schema(
        tags=[TAG],
        operation_id="attendance_suggestion",
        responses={200: SuggestionSerializer, **ERRORS},
        summary="What the whiteboard evidence suggests, with confidence and reasons.",
    )
    def suggestion(self, request, session_id: int):
        session = session_for_tutor_or_staff(request.user, session_id)
        suggestion = services.attendance_suggest(session=session, now=timezone.now())
        return Response({"session_id": session.pk, **suggestion.to_dict()})

    @extend_schema(
        tags=[TAG],
        operation_id="attendance_mark",
        request=AttendanceMarkInputSerializer,
        responses={
            200: AttendanceSerializer,
            409: OpenApiResponse(
                ErrorSerializer,
                description="`admin_override_locked`, `not_started`, `marking_window_closed`, `suggestion_not_final`, "
                "`no_suggestion`",
            ),
            **ERRORS,
        },
        summary="Mark attendance by hand (tutor: manual; staff: admin_override) or accept the suggestion.",
    )
    def mark(self, request, session_id: int):
        session = session_for_tutor_or_staff(request.user, session_id)
        data = validated(AttendanceMarkInputSerializer, request)
        if data["apply_suggestion"]:
            session = services.attendance_apply_suggestion(session=session, by=request.user, notes=data["notes"])
        else:
            session = services.attendance_mark_by_hand(
                session=session,
                by=request.user,
                tutor_status=data.get("tutor_attendance_status"),
                student_status=data.get("student_attendance_status"),
                notes=data["notes"],
            )
        return Response(AttendanceSerializer(session).data)

    @extend_schema(
        tags=[TAG],
        operation_id="attendance_history",
        responses={200: AttendanceChangeSerializer(many=True), **ERRORS},
        summary="Every change of the session's attendance, oldest first.",
    )
    def history(self, request, session_id: int):
        session = session_for_tutor_or_staff(request.user, session_id)
        changes = session.attendance_changes.select_related("actor").order_by("id")
        return Response(AttendanceChangeSerializer(changes, many=True).data)
