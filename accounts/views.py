from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone

from accounts import ratelimit
from accounts.forms import ProfileForm
from accounts.models import profile_for
from accounts.signin import client_ip, signin_failure_record, signin_wait


class SignInView(auth_views.LoginView):
    redirect_authenticated_user = True


class SignOutView(auth_views.LogoutView):
    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You have been signed out.")
        return response


@login_required
def account_settings(request):
    profile = profile_for(request.user)
    form = ProfileForm(request.POST or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Times are now shown in {profile.zone.key}.")
        return redirect("account_settings")
    return render(request, "accounts/settings.html", {"form": form, "now": timezone.now()})


def signin_throttled(request, wait: int):
    """Too many failed attempts: 429 with Retry-After, on a page like the sign-in page."""
    response = render(request, "registration/throttled.html", {"minutes": -(-wait // 60)}, status=429)
    response["Retry-After"] = str(wait)
    return response


def signin_busy(request):
    """Every place for checking a password is taken (accounts.signin.signin_slot): try again in a second."""
    response = render(request, "registration/throttled.html", {"busy": True}, status=429)
    response["Retry-After"] = "1"
    return response


# Django's password flows, on this app's pages (templates/accounts/password_*.html: not the
# registration/ names, which Django admin's own password pages use).


class PasswordChangeView(auth_views.PasswordChangeView):
    """Checks the current password: throttled with the sign-in's counters (this user, this address)."""

    template_name = "accounts/password_change_form.html"

    def post(self, request, *args, **kwargs):
        ip = client_ip(request)
        wait = signin_wait(username=request.user.get_username(), ip=ip)
        if wait is not None:
            return signin_throttled(request, wait)
        response = super().post(request, *args, **kwargs)
        form = getattr(response, "context_data", {}).get("form")
        if form is not None and "old_password" in form.errors:
            signin_failure_record(username=request.user.get_username(), ip=ip)
        return response


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "accounts/password_change_done.html"


class PasswordResetView(auth_views.PasswordResetView):
    """Sends the link by e-mail; requests are limited per address asked for and per client address, so
    nobody can use it to flood an inbox or to hammer the server."""

    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"

    def form_valid(self, form):
        email = form.cleaned_data["email"].strip().casefold()
        waits = [
            ratelimit.hit(f"password-reset-ip:{client_ip(self.request)}", **_rate(settings.THROTTLE_PASSWORD_RESET_IP)),
            ratelimit.hit(f"password-reset-email:{email}", **_rate(settings.THROTTLE_PASSWORD_RESET_EMAIL)),
        ]
        wait = max((w for w in waits if w is not None), default=None)
        if wait is not None:
            return signin_throttled(self.request, wait)
        return super().form_valid(form)


def _rate(rate: str) -> dict:
    limit, period = ratelimit.parse_rate(rate)
    return {"limit": limit, "period": period}


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"

    def get_context_data(self, **kwargs):
        minutes = settings.PASSWORD_RESET_TIMEOUT // 60
        return super().get_context_data(**kwargs, timeout_minutes=f"{minutes} minute{'s' if minutes != 1 else ''}")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"
