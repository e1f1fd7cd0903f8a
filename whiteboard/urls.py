from django.urls import path

from whiteboard.api import BoardViewSet, WhiteboardTrackingViewSet

app_name = "whiteboard-api"

# `path()` per action rather than a router: the design note's paths have no trailing slash.
urlpatterns = [
    path("sessions/<int:session_id>/connect", WhiteboardTrackingViewSet.as_view({"post": "connect"}), name="connect"),
    path(
        "sessions/<int:session_id>/heartbeat",
        WhiteboardTrackingViewSet.as_view({"post": "heartbeat"}),
        name="heartbeat",
    ),
    path(
        "sessions/<int:session_id>/disconnect",
        WhiteboardTrackingViewSet.as_view({"post": "disconnect"}),
        name="disconnect",
    ),
    path(
        "sessions/<int:session_id>/connection-status",
        WhiteboardTrackingViewSet.as_view({"get": "connection_status"}),
        name="connection-status",
    ),
    path("sessions/<int:session_id>/strokes", BoardViewSet.as_view({"get": "strokes"}), name="strokes"),
]
