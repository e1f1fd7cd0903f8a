from django.urls import reverse
from django.utils import timezone
from rest_framework.views import APIView

from accounts.models import Profile, zone_or_default


class TimezoneMiddleware:
    """Pages show times in the viewer's own zone: it is activated for each page view (the business's otherwise).

    API views are left alone: their JSON has explicit offsets, is the same for every client,
    and a heartbeat should not pay a query for a zone it never uses.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            # The active zone belongs to the thread; the next request on this thread must not inherit it.
            timezone.deactivate()

    def process_view(self, request, view_func, view_args, view_kwargs):
        view_class = getattr(view_func, "cls", None)
        if isinstance(view_class, type) and issubclass(view_class, APIView):
            return None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            # A read, not profile_for(): a page view should not write a row for everyone who signs in.
            name = Profile.objects.filter(user_id=user.pk).values_list("time_zone", flat=True).first()
            timezone.activate(zone_or_default(name or ""))
        return None


class SignInThrottleMiddleware:
    """429 with Retry-After for throttled sign-in attempts on /accounts/login/ and /admin/login/.

    Placed before the session and CSRF middleware: a throttled POST to a sign-in page is refused before
    the session is loaded or a form is built, so a flood of them costs one cache read each. Anything else
    that authenticates with a request is refused by `accounts.backends.SignInThrottleBackend`, which marks
    the request; the mark becomes the same 429 here.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self._paths = None

    def __call__(self, request):
        from accounts.signin import client_ip, signin_attempt, signin_slot, signin_wait
        from accounts.views import signin_busy, signin_throttled

        if self._paths is None:
            self._paths = {reverse("login"), reverse("admin:login"), reverse("password_change")}
        if request.method == "POST" and request.path in self._paths:
            check = signin_wait if _counted_by_gate(request) else signin_attempt
            wait = check(username=request.POST.get("username"), ip=client_ip(request))
            if wait is not None:
                return signin_throttled(request, wait)
            # At most SIGNIN_CONCURRENT_HASHES attempts hash a password at once, deployment-wide.
            with signin_slot() as acquired:
                if not acquired:
                    return signin_busy(request)
                response = self.get_response(request)
        else:
            response = self.get_response(request)
        wait = getattr(request, "signin_throttled_wait", None)
        return signin_throttled(request, wait) if wait is not None else response


def _counted_by_gate(request) -> bool:
    """Whether the entry point's gate (accounts.signin_gate) already counted this attempt: it marks the
    WSGI environ (request.META) or the ASGI scope (request.scope)."""
    from accounts.signin_gate import COUNTED

    return bool(request.META.get(COUNTED) or getattr(request, "scope", {}).get(COUNTED))
