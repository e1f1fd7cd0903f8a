from django import forms

from core.forms import CountedTextarea


class AbsenceReportForm(forms.Form):
    """A parent's absence report: why the child will miss the session."""

    reason = forms.CharField(
        max_length=2000,
        label="Reason",
        help_text="For the tutor, e.g. “ill with a cold” or “family trip”. Kept with the attendance record.",
        widget=CountedTextarea(attrs={"rows": 3}),
        error_messages={"required": "Please say why your child will miss the session."},
    )


class WithdrawForm(forms.Form):
    """No fields: it carries the reason a withdrawal was refused."""


class NotificationSettingsForm(forms.Form):
    notify_absent_or_late = forms.BooleanField(
        required=False,
        label="E-mail me when my child is marked absent or late",
        help_text="By the tutor, an administrator or automatically from the whiteboard.",
    )


class DisputeForm(forms.Form):
    """A parent contests a decision: why."""

    note = forms.CharField(
        max_length=2000,
        label="Why",
        help_text="An administrator reads it and settles the matter.",
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Please say why you contest this decision."},
    )
