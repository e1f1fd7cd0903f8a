from django.apps import AppConfig


class FamiliesConfig(AppConfig):
    name = "families"
    verbose_name = "Families and notifications"

    def ready(self):
        from families import receivers  # noqa: F401 - connects the receivers
