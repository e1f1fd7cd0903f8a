from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("", views.attendance_report, name="attendance"),
    path("attendance.csv", views.attendance_csv, name="attendance-csv"),
]
