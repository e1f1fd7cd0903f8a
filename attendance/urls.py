from django.urls import path

from attendance.api import AttendanceViewSet

app_name = "attendance-api"

urlpatterns = [
    path(
        "sessions/<int:session_id>/attendance-suggestion",
        AttendanceViewSet.as_view({"get": "suggestion"}),
        name="suggestion",
    ),
    path("sessions/<int:session_id>/attendance", AttendanceViewSet.as_view({"put": "mark"}), name="mark"),
    path("sessions/<int:session_id>/attendance-history", AttendanceViewSet.as_view({"get": "history"}), name="history"),
]
