"""The Celery app: configured from Django's settings (the CELERY_* names), tasks found in each app's tasks.py.

celery -A config worker      # runs queued tasks
celery -A config beat        # enqueues the scheduled ones (settings.CELERY_BEAT_SCHEDULE)
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("attendance")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
