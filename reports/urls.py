from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("", views.attendance_report, name="attendance"),
    path("attendance.csv", views.attendance_csv, name="attendance-csv"),
    path("agreement/", views.agreement_report, name="agreement"),
    path("agreement.csv", views.agreement_csv, name="agreement-csv"),
    path("streaks/", views.streaks, name="streaks"),
    path("checks/", views.checks_report, name="checks"),
]
