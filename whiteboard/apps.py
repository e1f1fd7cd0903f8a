from django.apps import AppConfig


class WhiteboardConfig(AppConfig):
    name = "whiteboard"
    verbose_name = "Whiteboard presence"
