from django.urls import path

from attendance import views

app_name = "attendance"

urlpatterns = [
    path("", views.home, name="home"),
    path("sessions/<int:session_id>/", views.session_detail, name="session"),
    path("sessions/<int:session_id>/mark", views.session_mark, name="mark"),
    path("sessions/<int:session_id>/accept", views.session_accept, name="accept"),
    path("live/fragments", views.live_fragments, name="live-fragments"),
]
