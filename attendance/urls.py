from django.urls import path

from attendance import api

app_name = "attendance-api"

urlpatterns = [
    path("sessions/<int:session_id>/attendance-suggestion", api.AttendanceSuggestionApi.as_view(), name="suggestion"),
    path("sessions/<int:session_id>/attendance", api.AttendanceMarkApi.as_view(), name="mark"),
    path("sessions/<int:session_id>/attendance-history", api.AttendanceHistoryApi.as_view(), name="history"),
]
