from django.urls import path

from attendance import views

app_name = "attendance"

urlpatterns = [
    path("", views.home, name="home"),
    path("sessions/<int:session_id>/", views.session_detail, name="session"),
    path("sessions/<int:session_id>/mark", views.session_mark, name="mark"),
    path("sessions/<int:session_id>/accept", views.session_accept, name="accept"),
    path("sessions/<int:session_id>/cancel", views.session_cancel_view, name="cancel"),
    path("sessions/<int:session_id>/move", views.session_move_view, name="move"),
    path("sessions/<int:session_id>/dispute", views.session_dispute_view, name="dispute"),
    path("live/fragments", views.live_fragments, name="live-fragments"),
]
