from django.urls import path

from attendance.api import AttendanceViewSet

app_name = "attendance-api"

# Each `name=` keeps the view name OPTIONS answers with, as it was when each action was its own APIView.
urlpatterns = [
    path(
        "sessions/<int:session_id>/attendance-suggestion",
        AttendanceViewSet.as_view({"get": "suggestion"}, name="Attendance Suggestion Api"),
        name="suggestion",
    ),
    path(
        "sessions/<int:session_id>/attendance",
        AttendanceViewSet.as_view({"put": "mark"}, name="Attendance Mark Api"),
        name="mark",
    ),
    path(
        "sessions/<int:session_id>/attendance-history",
        AttendanceViewSet.as_view({"get": "history"}, name="Attendance History Api"),
        name="history",
    ),
]
