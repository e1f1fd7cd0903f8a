from django.urls import path

from families import views

app_name = "families"

urlpatterns = [
    path("", views.family_home, name="home"),
    path("notifications", views.notification_settings, name="notifications"),
    path("sessions/<int:session_id>/", views.session_detail, name="session"),
    path("sessions/<int:session_id>/report", views.absence_report, name="report"),
    path("sessions/<int:session_id>/withdraw", views.absence_withdraw, name="withdraw"),
    path("sessions/<int:session_id>/dispute", views.decision_dispute, name="dispute"),
]
