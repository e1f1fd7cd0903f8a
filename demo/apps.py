from django.apps import AppConfig


class DemoConfig(AppConfig):
    """`manage.py demo_data`: rows for every app, so it sits on top and may import them all."""

    name = "demo"
    verbose_name = "Demo data"
