from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AttendanceConfig(AppConfig):
    name = "attendance"
    verbose_name = "Attendance"

    def ready(self):
        from attendance.history_protection import grant_app_role_after_migrate

        # After every migrate (all apps' tables exist by then), as the owner: the app role's grants.
        post_migrate.connect(grant_app_role_after_migrate, sender=self, dispatch_uid="attendance-app-role-grants")

        from attendance import live  # noqa: F401 - connects the receivers that push changes to live pages
