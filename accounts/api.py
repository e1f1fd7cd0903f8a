from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ErrorSerializer


class PingApi(APIView):
    """Authenticates and answers: for clients checking their token, and the benchmark's baseline."""

    @extend_schema(
        tags=["meta"],
        operation_id="ping",
        summary="Check that the token works; returns who you are.",
        responses={
            200: inline_serializer(
                "Ping",
                {
                    "ok": serializers.BooleanField(),
                    "user_id": serializers.IntegerField(),
                    "server_time": serializers.DateTimeField(),
                },
            ),
            401: OpenApiResponse(ErrorSerializer, description="No valid token (or session)."),
        },
    )
    def get(self, request):
        return Response({"ok": True, "user_id": request.user.pk, "server_time": timezone.now()})
