"""Loaded by pytest before Django's settings: the test run sets what the settings require of every process.

The tests run with DEBUG off, like production, so they need a SECRET_KEY; the processes the tests start
(gunicorn, workers) inherit it from this environment.
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-for-production-0123456789abcdefghijklmnopqrstuvwxyz")
