"""`GET /api/sessions`: the sessions a user may see, filtered, in pages that stay correct while rows change.

Paging is by key, never by offset: a page ends at a row's (key, id) and the next page starts after
it, so rows inserted or changed elsewhere never shift what comes next. The key is `updated_at` when
`changed_since` is given (a sync: a row changed while you page moves to the end and is seen again,
with its latest state), else `scheduled_start`. Writes stamp `updated_at` with the wall clock before
they commit, so a write that commits late can carry a time just below one you already saw: start
each sync from the last `updated_at` you stored minus SYNC_OVERLAP and keep rows by id (the README).
"""

import base64
import binascii
import json
from datetime import datetime

from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers, viewsets
from rest_framework.response import Response

from attendance import services
from attendance.api import TAG, SuggestionSerializer, UserRefSerializer
from attendance.billing import billing_notice, session_billing
from attendance.models import ATTENDANCE_FIELDS, AttendanceSource, AttendanceStatus, TutoringSession
from attendance.rules import decision_locked, dispute_open_until
from attendance.selectors import sessions_for_listing, sessions_visible_to
from attendance.statuses import BILLING_OUTCOMES
from core.api import ErrorSerializer

MAX_PAGE_SIZE = 200
MAX_USER_ID = 2**31 - 1  # auth_user.id is a 32-bit integer: larger ids cannot exist
MAX_SESSION_ID = 2**63 - 1
INCLUDE_SUGGESTION = "suggestion"


class SessionFilterSerializer(serializers.Serializer):
    """The query parameters; anything else is ignored, a bad value is a 400."""

    tutor = serializers.IntegerField(required=False, min_value=1, max_value=MAX_USER_ID, help_text="Tutor's user id.")
    student = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_USER_ID, help_text="Student's user id."
    )
    starts_after = serializers.DateTimeField(
        required=False, help_text="Sessions starting at or after this time (ISO 8601; without an offset: UTC)."
    )
    starts_before = serializers.DateTimeField(
        required=False, help_text="Sessions starting before this time (not after starts_after: nothing is listed)."
    )
    tutor_status = serializers.ChoiceField(choices=AttendanceStatus.choices, required=False)
    student_status = serializers.ChoiceField(choices=AttendanceStatus.choices, required=False)
    source = serializers.ChoiceField(choices=AttendanceSource.choices, required=False)
    changed_since = serializers.DateTimeField(
        required=False,
        help_text="Sessions changed at or after this time, oldest change first (sync). "
        "Restart from the last `updated_at` you stored minus a minute; rows may repeat, keep them by id.",
    )
    include = serializers.ChoiceField(
        choices=[INCLUDE_SUGGESTION],
        required=False,
        help_text="`suggestion`: add each session's attendance suggestion (sessions you tutor, or all for staff).",
    )
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_SIZE, default=50)
    cursor = serializers.CharField(required=False, max_length=500, help_text="From the previous page's `next`; opaque.")

    def to_internal_value(self, data):
        # DRF reads a query string like a form, where an empty value means "not given"; here it is a bad value.
        blank = {name: ["May not be blank."] for name in self.fields if name in data and data.get(name) == ""}
        if blank:
            raise serializers.ValidationError(blank)
        return super().to_internal_value(data)

    def validate(self, data):
        # An empty range (starts_before not after starts_after) is not an error: it lists nothing.
        key = "updated_at" if "changed_since" in data else "scheduled_start"
        data["order_key"] = key
        if "cursor" in data:
            data["after"] = _cursor_decode(data["cursor"], key=key)
        return data


def _cursor_encode(session: TutoringSession, key: str) -> str:
    raw = json.dumps({"k": key, "v": getattr(session, key).isoformat(), "id": session.pk}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _cursor_decode(cursor: str, *, key: str) -> tuple[datetime, int]:
    invalid = serializers.ValidationError({"cursor": ["Invalid cursor: pass `next` from a page of this listing."]})
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        value, pk = parse_datetime(raw["v"]), raw["id"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise invalid from None
    if raw.get("k") != key or value is None or timezone.is_naive(value):
        raise invalid
    if not isinstance(pk, int) or isinstance(pk, bool) or not 0 < pk <= MAX_SESSION_ID:
        raise invalid
    return value, pk


class BillingSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=BILLING_OUTCOMES)
    chargeable = serializers.BooleanField(help_text="The family may be charged for it.")
    flags = serializers.ListField(
        child=serializers.CharField(), help_text="For `delivered`: who was late or left early, e.g. `student_late`."
    )


class SessionSerializer(serializers.ModelSerializer):
    tutor = UserRefSerializer()
    student = UserRefSerializer()
    whiteboard_id = serializers.IntegerField(allow_null=True, help_text="Null: no whiteboard (in person).")
    attendance_marked_by = UserRefSerializer(allow_null=True)
    attendance_notes = serializers.SerializerMethodField(help_text="Null for students: the notes are the tutor's.")
    billing = serializers.SerializerMethodField(
        help_text="The billing outcome (README: Billing outcomes); null until the session ends or something is decided."
    )
    locked = serializers.SerializerMethodField(
        help_text="Marking and dispute windows have passed: only an admin can change the decision."
    )
    dispute_open_until = serializers.SerializerMethodField(
        help_text="Until when the tutor or a parent may contest the decision; null while undecided."
    )
    open_dispute = serializers.BooleanField(help_text="A contest of the decision waits for an admin.")
    suggestion = serializers.SerializerMethodField(
        help_text="With `include=suggestion`, for sessions you tutor (staff: all); null otherwise."
    )

    class Meta:
        model = TutoringSession
        fields = [
            "id",
            "title",
            "tutor",
            "student",
            "scheduled_start",
            "scheduled_end",
            "whiteboard_id",
            *ATTENDANCE_FIELDS,
            "updated_at",
            "billing",
            "locked",
            "dispute_open_until",
            "open_dispute",
            "suggestion",
        ]

    def _may_read_tutor_side(self, session) -> bool:
        user = self.context["user"]
        return user.is_staff or session.tutor_id == user.pk

    def get_attendance_notes(self, session) -> str | None:
        return session.attendance_notes if self._may_read_tutor_side(session) else None

    @extend_schema_field(BillingSerializer(allow_null=True))
    def get_billing(self, session) -> dict | None:
        billing = session_billing(session, now=self.context["now"], notice=self.context["notice"])
        if billing is None:
            return None
        return {"outcome": billing.outcome, "chargeable": billing.chargeable, "flags": list(billing.flags)}

    def get_locked(self, session) -> bool:
        return decision_locked(session, now=self.context["now"])

    def get_dispute_open_until(self, session) -> datetime | None:
        return dispute_open_until(session)

    @extend_schema_field(SuggestionSerializer(allow_null=True))
    def get_suggestion(self, session) -> dict | None:
        if not self.context["include_suggestion"] or not self._may_read_tutor_side(session):
            return None
        open_connections = getattr(session.whiteboard, "open_connections", None) if session.whiteboard_id else None
        suggestion = services.attendance_suggest(
            session=session,
            now=self.context["now"],
            open_connections=open_connections,
            outages=self.context["outages"],
        )
        return {"session_id": session.pk, **suggestion.to_dict()}


SESSION_EXAMPLE = {
    "id": 42,
    "title": "Algebra",
    "tutor": {"id": 3, "username": "maria", "name": "Maria Lopez"},
    "student": {"id": 7, "username": "leo", "name": "Leo Grant"},
    "scheduled_start": "2026-03-10T14:00:00Z",
    "scheduled_end": "2026-03-10T15:00:00Z",
    "whiteboard_id": 42,
    "tutor_attendance_status": "present",
    "student_attendance_status": "late",
    "attendance_source": "whiteboard_auto",
    "attendance_marked_by": {"id": 3, "username": "maria", "name": "Maria Lopez"},
    "attendance_marked_at": "2026-03-10T15:04:10Z",
    "attendance_notes": "",
    "updated_at": "2026-03-10T15:04:10.318204Z",
    "billing": {"outcome": "delivered", "chargeable": True, "flags": ["student_late"]},
    "locked": False,
    "dispute_open_until": "2026-03-13T15:04:10Z",
    "open_dispute": False,
    "suggestion": None,
}


# The sessions you may see (tutor: yours, student: yours, staff: all); no docstring, or drf-spectacular
# would publish it as the operation's description.
class SessionViewSet(viewsets.ViewSet):
    @extend_schema(
        tags=[TAG],
        operation_id="sessions_list",
        parameters=[SessionFilterSerializer],
        responses={
            200: inline_serializer(
                "SessionPage",
                {
                    "results": SessionSerializer(many=True),
                    "next": serializers.URLField(
                        allow_null=True, help_text="The next page, with the same filters; null on the last page."
                    ),
                },
            ),
            400: OpenApiResponse(ErrorSerializer, description="`invalid`: a filter value, `page_size` or `cursor`."),
            401: OpenApiResponse(ErrorSerializer, description="Not signed in / no valid token."),
        },
        summary="List sessions you may see, filtered; keyset pages; `changed_since` for syncs.",
        description=(
            "Tutors see the sessions they tutor, students theirs, staff all (parents: none; the family "
            "pages are theirs). Ordered by (`scheduled_start`, `id`), or by (`updated_at`, `id`) when "
            "`changed_since` is given. Follow `next` until it is null. For a sync, store the largest "
            "`updated_at` you received and next time pass `changed_since` = that minus one minute; keep rows by `id`."
        ),
        examples=[
            OpenApiExample(
                "A page",
                value={"results": [SESSION_EXAMPLE], "next": "https://attendance.example.com/api/sessions?cursor=eyJr"},
                response_only=True,
            ),
            OpenApiExample(
                "Changes since the last sync, with suggestions",
                summary="GET /api/sessions?changed_since=2026-03-10T15:00:00Z&include=suggestion",
                value={"results": [SESSION_EXAMPLE], "next": None},
                response_only=True,
            ),
            OpenApiExample(
                "A bad filter value",
                value={
                    "code": "invalid",
                    "detail": "The request has invalid fields.",
                    "errors": {"tutor_status": ['"gone" is not a valid choice.']},
                },
                response_only=True,
                status_codes=["400"],
            ),
        ],
    )
    def listing(self, request):
        # Not `list`: drf-spectacular would document a list action as an array of pages.
        params = SessionFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        sessions = _filtered(sessions_visible_to(request.user), data)
        key = data["order_key"]
        if "after" in data:
            value, pk = data["after"]
            sessions = sessions.filter(Q(**{f"{key}__gt": value}) | Q(**{key: value, "pk__gt": pk}))
        include_suggestion = data.get("include") == INCLUDE_SUGGESTION
        size = data["page_size"]
        page = list(sessions_for_listing(sessions, with_evidence=include_suggestion).order_by(key, "pk")[: size + 1])
        now = timezone.now()
        next_url = None
        if len(page) > size:
            page = page[:size]
            query = request.query_params.copy()
            query["cursor"] = _cursor_encode(page[-1], key)
            next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        context = {
            "user": request.user,
            "now": now,
            "notice": billing_notice(),
            "include_suggestion": include_suggestion,
            # The page's outage gaps in one query, not one per session.
            "outages": services.outages_covering(page, now=now) if include_suggestion else [],
        }
        return Response({"results": SessionSerializer(page, many=True, context=context).data, "next": next_url})


def _filtered(sessions, data: dict):
    lookups = {
        "tutor": "tutor_id",
        "student": "student_id",
        "starts_after": "scheduled_start__gte",
        "starts_before": "scheduled_start__lt",
        "tutor_status": "tutor_attendance_status",
        "student_status": "student_attendance_status",
        "source": "attendance_source",
        "changed_since": "updated_at__gte",
    }
    return sessions.filter(**{lookup: data[name] for name, lookup in lookups.items() if name in data})
