from django.apps import AppConfig


class AttendanceConfig(AppConfig):
    name = "attendance"
    verbose_name = "Attendance"

    def ready(self):
        from attendance import live  # noqa: F401 - connects the receivers that push changes to live pages
