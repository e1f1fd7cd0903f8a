"""WSGI entry point, used by gunicorn in production."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_wsgi_application()

from accounts.signin_gate import SignInGate, warm_up  # noqa: E402 - needs the settings loaded above

warm_up()
# Throttled sign-in attempts are refused before Django handles them (accounts/signin_gate.py).
application = SignInGate(django_application)
