"""The agreement report (issue 19): how often people keep the suggested status, on plain decisions.

Pure: no database. The selector reads decisions (attendance.decisions.Decision) and the
calibration rows; this turns them into the page's figures. Only statuses a person chose count
(see reports.figures.agreement); applied suggestions are counted apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, tzinfo

from attendance.labels import STATUS_LABELS
from attendance.statuses import STATUSES
from attendance.statuses import SUGGESTED as SUGGESTED_STATUSES
from reports.figures import ROLES, Agreement, Tally, agreement, percent

BINS = 10  # reliability chart: confidence in tenths
CONFIDENTLY_WRONG_LIMIT = 100  # the page lists this many, newest first; the CSV has them all


@dataclass(frozen=True)
class ReliabilityBin:
    """Chosen statuses whose rule confidence fell in [low, high): mean confidence against observed agreement."""

    low: float
    high: float
    count: int
    mean_confidence: float | None
    observed: float | None

    @property
    def gap(self) -> float | None:
        if self.count == 0:
            return None
        return self.observed - self.mean_confidence

    @property
    def label(self) -> str:
        return f"{round(self.low * 100)}\u2013{round(self.high * 100)}%"


def reliability_bins(decisions: Iterable, *, bins: int = BINS) -> list[ReliabilityBin]:
    """Equal-width bins of confidence; a confidence of exactly 1 falls in the last bin."""
    totals = [[0, 0.0, 0] for _ in range(bins)]
    for d in decisions:
        b = min(bins - 1, max(0, int(d.confidence * bins)))
        totals[b][0] += 1
        totals[b][1] += d.confidence
        totals[b][2] += int(d.decided == d.suggested)
    return [
        ReliabilityBin(
            low=i / bins,
            high=(i + 1) / bins,
            count=n,
            mean_confidence=(s / n) if n else None,
            observed=(k / n) if n else None,
        )
        for i, (n, s, k) in enumerate(totals)
    ]


def expected_calibration_error(bins: list[ReliabilityBin]) -> float | None:
    total = sum(b.count for b in bins)
    if not total:
        return None
    return sum(abs(b.gap) * b.count for b in bins if b.count) / total


@dataclass(frozen=True)
class NamedTally:
    key: object
    label: str
    tally: Tally


@dataclass
class AgreementReport:
    summary: Agreement
    by_role: dict[str, Tally]
    by_tutor: list[NamedTally]
    by_month: list[NamedTally]
    # matrix[role][suggested][decided] = chosen statuses
    matrix: dict[str, dict[str, dict[str, int]]]
    bins: list[ReliabilityBin]
    ece: float | None
    confidently_wrong: list  # Decision, newest first
    confidently_wrong_total: int
    threshold: float
    calibration: list = field(default_factory=list)  # CalibrationLine per role

    @property
    def decided_statuses(self) -> tuple[str, ...]:
        return STATUSES

    @property
    def suggested_statuses(self) -> tuple[str, ...]:
        return SUGGESTED_STATUSES

    @property
    def matrices(self) -> list[tuple[str, str, list]]:
        """(role, heading, rows) for each participant role, students first."""
        return [
            (role, "Students" if role == "student" else "Tutors", self.matrix_rows(role))
            for role in ("student", "tutor")
        ]

    @property
    def role_lines(self) -> list[tuple[str, Tally]]:
        return [("Students", self.by_role["student"]), ("Tutors", self.by_role["tutor"])]

    def matrix_rows(self, role: str) -> list[tuple[str, str, list[int], int]]:
        """(suggested, label, counts per decided status, row total) for the table."""
        rows = []
        for suggested in SUGGESTED_STATUSES:
            counts = [self.matrix[role][suggested][decided] for decided in STATUSES]
            rows.append((suggested, STATUS_LABELS[suggested], counts, sum(counts)))
        return rows


def month_label(month: date) -> str:
    return f"{month:%b %Y}"


def agreement_report(
    decisions: Iterable,
    *,
    zone: tzinfo,
    tutor_names: Mapping[int, str],
    threshold: float,
    calibration: list | None = None,
) -> AgreementReport:
    """Every figure of the agreement page from one pass over the decisions."""
    decisions = list(decisions)
    chosen = [d for d in decisions if d.chosen]
    by_role = {role: Tally() for role in ROLES}
    by_tutor: dict[int, Tally] = {}
    by_month: dict[date, Tally] = {}
    matrix = {role: {s: dict.fromkeys(STATUSES, 0) for s in SUGGESTED_STATUSES} for role in ROLES}
    wrong = []
    for d in chosen:
        kept = d.decided == d.suggested
        by_role[d.role].add(kept)
        by_tutor.setdefault(d.tutor_id, Tally()).add(kept)
        local = d.changed_at.astimezone(zone)
        by_month.setdefault(date(local.year, local.month, 1), Tally()).add(kept)
        row = matrix[d.role].setdefault(d.suggested, dict.fromkeys(STATUSES, 0))
        row[d.decided] = row.get(d.decided, 0) + 1
        if not kept and d.confidence >= threshold:
            wrong.append(d)
    wrong.sort(key=lambda d: (d.changed_at, d.change_id), reverse=True)
    bins = reliability_bins(chosen)
    return AgreementReport(
        summary=agreement(decisions),
        by_role=by_role,
        by_tutor=sorted(
            (NamedTally(pk, tutor_names.get(pk, f"#{pk}"), t) for pk, t in by_tutor.items()),
            key=lambda n: (n.label.lower(), n.key),
        ),
        by_month=[NamedTally(m, month_label(m), t) for m, t in sorted(by_month.items())],
        matrix=matrix,
        bins=bins,
        ece=expected_calibration_error(bins),
        confidently_wrong=wrong[:CONFIDENTLY_WRONG_LIMIT],
        confidently_wrong_total=len(wrong),
        threshold=threshold,
        calibration=calibration or [],
    )


@dataclass(frozen=True)
class CalibrationLine:
    """What the page says about one role's calibration."""

    role: str
    minimum: int
    fitted_at: object | None
    sample_size: int
    active: bool
    brier_before: float | None
    brier_after: float | None

    @property
    def sentence(self) -> str:
        who = "Students'" if self.role == "student" else "Tutors'"
        if self.active:
            return (
                f"{who} statuses: calibrated on {self.sample_size} decisions; Brier score "
                f"{self.brier_before:.3f} with the rule confidence, {self.brier_after:.3f} calibrated."
            )
        if self.fitted_at is None:
            return f"{who} statuses: not calibrated yet; the rule confidence stands."
        return (
            f"{who} statuses: {self.sample_size} of the {self.minimum} decisions needed to calibrate; "
            "the rule confidence stands."
        )


def share(value: float | None) -> str:
    return percent(value)
