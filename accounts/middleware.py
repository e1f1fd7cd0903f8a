from datetime import UTC

from django.utils import timezone

from accounts.models import Profile, zone_or_default


class TimezoneMiddleware:
    """Shows times in the viewer's own zone: activates it for the request (the business's zone otherwise)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if request.path.startswith("/api/"):
            # The API speaks UTC to everyone; clients show local time themselves.
            timezone.activate(UTC)
        elif user is not None and user.is_authenticated:
            # A read, not profile_for(): a page view should not write a row for everyone who signs in.
            name = Profile.objects.filter(user_id=user.pk).values_list("time_zone", flat=True).first()
            timezone.activate(zone_or_default(name or ""))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            # The active zone is per thread; the next request on this thread must not inherit it.
            timezone.deactivate()
