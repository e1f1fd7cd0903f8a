from django import template

from attendance.labels import STATUS_LABELS
from reports import figures
from reports.selectors import reports_visible_to

register = template.Library()


@register.filter
def sees_reports(user) -> bool:
    """For the navigation: the same rule the report pages apply."""
    return reports_visible_to(user)


@register.filter
def rate(value) -> str:
    """A share as a whole percentage; a dash when there was nothing to divide by."""
    return figures.percent(value)


@register.filter
def minutes(value) -> str:
    return figures.NO_VALUE if value is None else f"{value:.1f} min"


@register.filter
def status_label(value) -> str:
    """An attendance status in words (left_early -> Left early)."""
    return STATUS_LABELS.get(value, value)
