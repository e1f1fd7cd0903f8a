from django.urls import path

from whiteboard import views

app_name = "whiteboard"

urlpatterns = [
    path("<int:whiteboard_id>/", views.whiteboard_page, name="page"),
    path("<int:whiteboard_id>/board/", views.board_view, name="board"),
]
