from django import template

from attendance.labels import STATUS_LABELS, status_label

register = template.Library()

BADGE = {
    "present": "ok",
    "late": "warn",
    "left_early": "warn",
    "absent": "bad",
    "excused": "neutral",
    "unknown": "neutral",
}
LABEL = STATUS_LABELS


@register.inclusion_tag("attendance/_status.html")
def status_badge(status: str, who: str = ""):
    """A status as a coloured badge that also says it in words (colour is never the only signal)."""
    return {"status": status, "tone": BADGE.get(status, "neutral"), "label": LABEL.get(status, status), "who": who}


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


@register.filter
def status_word(status: str) -> str:
    """A status in words, in a sentence: "left early"."""
    return status_label(status).lower()
