from django.urls import path

from whiteboard import api

app_name = "whiteboard-api"

urlpatterns = [
    path("sessions/<int:session_id>/connect", api.ConnectApi.as_view(), name="connect"),
    path("sessions/<int:session_id>/heartbeat", api.HeartbeatApi.as_view(), name="heartbeat"),
    path("sessions/<int:session_id>/disconnect", api.DisconnectApi.as_view(), name="disconnect"),
    path("sessions/<int:session_id>/connection-status", api.ConnectionStatusApi.as_view(), name="connection-status"),
]
