from django.apps import AppConfig


class WhiteboardConfig(AppConfig):
    name = "whiteboard"
    verbose_name = "Whiteboard presence"

    def ready(self):
        from whiteboard import live  # noqa: F401 - connects the receiver that pushes presence to the live group
