from django import template

from attendance import labels, statuses

register = template.Library()

# The tone of each status's badge; a test holds it complete against `attendance.statuses`.
BADGE = {
    statuses.PRESENT: "ok",
    statuses.LATE: "warn",
    statuses.LEFT_EARLY: "warn",
    statuses.ABSENT: "bad",
    statuses.EXCUSED: "neutral",
    statuses.UNKNOWN: "neutral",
}


@register.inclusion_tag("attendance/_status.html")
def status_badge(status: str, who: str = ""):
    """A status as a coloured badge that also says it in words (colour is never the only signal)."""
    return {"status": status, "tone": BADGE.get(status, "neutral"), "label": labels.status_label(status), "who": who}


@register.filter
def duration(seconds) -> str:
    """1 h 05 min / 12 min / 40 s."""
    seconds = int(seconds or 0)
    if seconds < 60:
        return f"{seconds} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


@register.filter
def percent(value) -> str:
    return f"{round(float(value or 0) * 100)}%"
