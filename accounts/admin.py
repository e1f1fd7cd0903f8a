from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpResponse
from django.template.response import TemplateResponse

from accounts import ratelimit
from accounts.forms import ProfileForm
from accounts.models import ApiToken, Profile
from accounts.services import token_issue, token_revoke


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at", "expires_at"]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = ["prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    autocomplete_fields = ["user"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["user", "name"]
        return ["user", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields + (["user"] if obj else [])

    def add_view(self, request, form_url="", extra_context=None):
        if request.method == "POST":
            wait = ratelimit.hit(
                f"token-issue:{request.user.pk}",
                limit=settings.TOKEN_ISSUE_LIMIT,
                period=settings.TOKEN_ISSUE_PERIOD_SECONDS,
            )
            if wait is not None:
                response = HttpResponse(
                    f"Too many tokens issued; try again in {wait} seconds.", status=429, content_type="text/plain"
                )
                response["Retry-After"] = str(wait)
                return response
        return super().add_view(request, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        token, key = token_issue(user=form.cleaned_data["user"], name=form.cleaned_data["name"])
        # Admin's own log entry names `obj`: give it the saved row's values.
        obj.pk = token.pk
        obj.refresh_from_db()
        # The key goes on the answer to this request only (response_add): never into the messages
        # cookie, the session or a log.
        request._issued_token_key = key

    def response_add(self, request, obj, post_url_continue=None):
        key = getattr(request, "_issued_token_key", None)
        if key is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": "API token issued",
            "opts": self.opts,
            "token": obj,
            "key": key,
        }
        response = TemplateResponse(request, "admin/accounts/apitoken/issued.html", context)
        response["Cache-Control"] = "no-store"  # not kept by the browser or a proxy
        return response

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            token_revoke(token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")

    def has_delete_permission(self, request, obj=None):
        # Revoke instead, so the record of who had access remains.
        return False


class ProfileInline(admin.StackedInline):
    model = Profile
    form = ProfileForm
    can_delete = False
    verbose_name_plural = "Profile"


# The user's own settings (time zone) are edited on the user's page.
admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class UserAdmin(BaseUserAdmin):
    inlines = [*BaseUserAdmin.inlines, ProfileInline]
