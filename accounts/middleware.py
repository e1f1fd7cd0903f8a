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
