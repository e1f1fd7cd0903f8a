from django import forms
from django.conf import settings

from accounts.models import Profile, available_time_zones


def time_zone_choices() -> list[tuple[str, str]]:
    default = ("", f"Business default ({settings.TIME_ZONE})")
    return [default, *((name, name) for name in available_time_zones())]


class ProfileForm(forms.ModelForm):
    """A person's settings. The zone list is the tz database's; the model validates the value again."""

    time_zone = forms.ChoiceField(
        label="Time zone",
        required=False,
        choices=time_zone_choices,
        help_text="Session times everywhere in the app are shown in this zone.",
        error_messages={"invalid_choice": "“%(value)s” is not a known time zone. Pick one from the list."},
    )

    class Meta:
        model = Profile
        fields = ["time_zone"]
