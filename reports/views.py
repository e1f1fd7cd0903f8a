"""Attendance report pages: thin. Check who may look, validate the filters, call the selectors."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from attendance import checks
from reports import charts, exports, selectors
from reports.figures import STATUS_LABELS
from reports.forms import ChecksForm, ReportFilterForm

TEMPLATE = "reports/report.html"
AGREEMENT_TEMPLATE = "reports/agreement.html"


def _filter_form(request) -> ReportFilterForm:
    """The filters, for someone who may see reports; 404 for everyone else (students, parents)."""
    if not selectors.reports_visible_to(request.user):
        raise Http404("No such page.")
    return ReportFilterForm(request.GET, user=request.user, today=selectors.business_today())


def _query_without(request, name: str) -> str:
    query = request.GET.copy()
    query.pop(name, None)
    return query.urlencode()


def _page(request, form, **context):
    """The report page; without a report (bad filters) it shows the form's errors with a 400."""
    context = {"form": form, "report": None, "zone_name": selectors.business_zone().key, **context}
    return render(request, TEMPLATE, context, status=200 if context["report"] else 400)


@require_GET
@login_required
def attendance_report(request):
    form = _filter_form(request)
    if not form.is_valid():
        return _page(request, form)
    report = selectors.attendance_report(user=request.user, filters=form.filters())
    return _page(
        request,
        form,
        report=report,
        weekly_chart=charts.weekly_rate_chart(report.weeks, overall=report.totals.student.attendance_rate),
        mix_chart=charts.status_mix_chart(report.totals),
        status_labels=list(STATUS_LABELS.values()),
        query=request.GET.urlencode(),
        # Names in the tables narrow the report to that person, keeping the other filters.
        tutor_query=_query_without(request, "tutor"),
        student_query=_query_without(request, "student"),
    )


@require_GET
@login_required
def attendance_csv(request):
    """The report's sessions as CSV, streamed: rows are read in chunks and written as they come."""
    form = _filter_form(request)
    if not form.is_valid():
        return _page(request, form)
    filters = form.filters()
    zone = selectors.business_zone()
    rows = selectors.export_rows(user=request.user, filters=filters)
    response = StreamingHttpResponse(
        exports.csv_lines(rows, zone=zone, zone_name=zone.key), content_type="text/csv; charset=utf-8"
    )
    filename = f"attendance-{filters.date_from:%Y-%m-%d}-to-{filters.date_to:%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- issue 19: agreement with the suggestion, and open streaks (staff only) ----------


def _staff_filter_form(request) -> ReportFilterForm:
    """Staff only: everyone else gets 404, as for sessions they are not part of."""
    if not request.user.is_staff:
        raise Http404("No such page.")
    return ReportFilterForm(request.GET, user=request.user, today=selectors.business_today())


@require_GET
@login_required
def agreement_report(request):
    form = _staff_filter_form(request)
    context = {"form": form, "report": None, "zone_name": selectors.business_zone().key}
    if not form.is_valid():
        return render(request, AGREEMENT_TEMPLATE, context, status=400)
    report = selectors.agreement_page(user=request.user, filters=form.filters())
    context.update(
        report=report,
        filters=form.filters(),
        reliability=charts.reliability_chart(report.bins),
        query=request.GET.urlencode(),
    )
    return render(request, AGREEMENT_TEMPLATE, context)


@require_GET
@login_required
def agreement_csv(request):
    """Every decision on a suggestion in the range, one line per participant, streamed."""
    form = _staff_filter_form(request)
    if not form.is_valid():
        context = {"form": form, "report": None, "zone_name": selectors.business_zone().key}
        return render(request, AGREEMENT_TEMPLATE, context, status=400)
    filters = form.filters()
    zone = selectors.business_zone()
    found, names = selectors.agreement_decisions(user=request.user, filters=filters)
    response = StreamingHttpResponse(
        exports.agreement_csv_lines(found, zone=zone, zone_name=zone.key, tutor_names=names),
        content_type="text/csv; charset=utf-8",
    )
    filename = f"suggestion-agreement-{filters.date_from:%Y-%m-%d}-to-{filters.date_to:%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
@login_required
def streaks(request):
    if not request.user.is_staff:
        raise Http404("No such page.")
    return render(request, "reports/streaks.html", {"streaks": selectors.streaks_open()})


# --- issue 18: what to check before decisions settle (staff only) ------------------------


@require_GET
@login_required
def checks_report(request):
    """Outage gaps and reconciliation flags of the last days: staff only, 404 for everyone else."""
    if not request.user.is_staff:
        raise Http404("No such page.")
    form = ChecksForm(request.GET)
    context = {"form": form, "gaps": None, "flagged": None, "zone_name": selectors.business_zone().key}
    if not form.is_valid():
        return render(request, "reports/checks.html", context, status=400)
    now = timezone.now()
    start, end = checks.default_range(now, days=form.cleaned_data["days"])
    context.update(
        days=form.cleaned_data["days"],
        gaps=checks.gaps_between(start=start, end=end, now=now),
        flagged=checks.flagged_sessions(start=start, end=end, now=now, code=form.cleaned_data["flag"] or None),
        max_listed=checks.MAX_LISTED,
    )
    return render(request, "reports/checks.html", context)
