from django.apps import AppConfig


class FamiliesConfig(AppConfig):
    name = "families"
    verbose_name = "Families and notifications"

    def ready(self):
        from attendance.guardians import guardian_check_register
        from families import receivers  # noqa: F401 - connects the receivers
        from families.selectors import is_guardian_of

        # Attendance asks whether someone is a student's parent through its own interface.
        guardian_check_register(is_guardian_of)
