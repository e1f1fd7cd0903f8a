"""The test suite's settings (pyproject's DJANGO_SETTINGS_MODULE): production's, plus what only tests may do.

Production never loads this module, so nothing set here can be switched on there.
"""

import os

# The tests run with DEBUG off, like production, which requires a key; the processes they start
# (gunicorn, commands) inherit it from this environment.
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH")

from config.settings import *  # noqa: F403

# pytest-django empties the database after every transactional test with `flush`: allowed here only.
ATTENDANCE_HISTORY_TRUNCATE_ALLOWED = True
