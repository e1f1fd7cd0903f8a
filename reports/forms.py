"""The report's filters. Every bad value becomes a form error, never a server error."""

from datetime import date, timedelta

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from attendance.models import AttendanceSource, AttendanceStatus
from attendance.reconciliation import FLAG_LABELS
from reports.selectors import ReportFilters, report_people

DEFAULT_WEEKS = 4
MAX_RANGE_DAYS = 731  # two years: enough for any yearly report, and the weekly chart stays legible
EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.get_full_name() or obj.get_username()


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self):
        super().__init__(format="%Y-%m-%d")


def _date_field(label: str) -> forms.DateField:
    return forms.DateField(
        label=label,
        required=False,
        widget=DateInput(),
        validators=[MinValueValidator(EARLIEST), MaxValueValidator(LATEST)],
    )


class ReportFilterForm(forms.Form):
    """Date range (business time zone, inclusive), tutor, student, student's status, source.

    Missing dates mean the last four weeks up to `today`. A tutor has no tutor menu: the
    report is always about their own sessions.
    """

    date_from = _date_field("From")
    date_to = _date_field("To")
    tutor = PersonChoiceField(queryset=None, required=False, empty_label="All tutors")
    student = PersonChoiceField(queryset=None, required=False, empty_label="All students")
    status = forms.ChoiceField(
        label="Student status", required=False, choices=[("", "Any status"), *AttendanceStatus.choices]
    )
    source = forms.ChoiceField(label="Source", required=False, choices=[("", "Any source"), *AttendanceSource.choices])

    def __init__(self, data, *, user, today: date):
        self.default_to = today
        self.default_from = today - timedelta(weeks=DEFAULT_WEEKS) + timedelta(days=1)
        data = data.copy()
        for name, default in (("date_from", self.default_from), ("date_to", self.default_to)):
            if not data.get(name):
                data[name] = default.isoformat()
        super().__init__(data)
        if user.is_staff:
            self.fields["tutor"].queryset = report_people(user=user, role="tutor")
        else:
            del self.fields["tutor"]
        self.fields["student"].queryset = report_people(user=user, role="student")

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end:
            if start > end:
                self.add_error("date_to", "The end date is before the start date.")
            elif (end - start).days >= MAX_RANGE_DAYS:
                self.add_error("date_to", f"Choose a range of at most {MAX_RANGE_DAYS // 365} years.")
        return cleaned

    def filters(self) -> ReportFilters:
        data = self.cleaned_data
        tutor, student = data.get("tutor"), data.get("student")
        return ReportFilters(
            date_from=data["date_from"],
            date_to=data["date_to"],
            tutor_id=tutor.pk if tutor else None,
            student_id=student.pk if student else None,
            status=data.get("status") or "",
            source=data.get("source") or "",
        )


class ChecksForm(forms.Form):
    """The staff checks page's filters: how many days back, and one kind of flag (blank: all)."""

    days = forms.IntegerField(min_value=1, max_value=90, required=False, initial=14, label="Last days")
    flag = forms.ChoiceField(required=False, label="Flag", choices=[("", "All flags"), *FLAG_LABELS.items()])

    def clean_days(self) -> int:
        return self.cleaned_data["days"] or 14
