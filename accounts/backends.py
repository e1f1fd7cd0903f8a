from django.core.exceptions import PermissionDenied

from accounts.signin import client_ip, signin_wait


class SignInThrottleBackend:
    """First in AUTHENTICATION_BACKENDS: refuses a throttled sign-in before any backend hashes the password.

    Django's authenticate() stops at the PermissionDenied; `accounts.middleware.SignInThrottleMiddleware`
    turns the mark left on the request into a 429. Calls without a request (shell, commands) are not throttled.
    Deliberately no get_user() or permission methods: sessions and permissions belong to ModelBackend
    (Django's force_login and login pick the first backend with get_user).
    """

    def authenticate(self, request, username=None, **credentials):
        if request is None:
            return None
        wait = signin_wait(username=username, ip=client_ip(request))
        if wait is not None:
            request.signin_throttled_wait = wait
            raise PermissionDenied
        return None
