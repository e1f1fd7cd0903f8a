"""Calibrated confidence of the suggestion (issue 19).

The rules give each suggested status a confidence. Whether "0.92" means people keep the status
nine times in ten is measured here: per participant role, the probability that a person keeps
the suggested status, given the rule confidence and the status, is fitted on the decisions so
far (`attendance.decisions`: only statuses a person chose; applied suggestions cannot disagree).

The model is Platt scaling with one intercept per suggested status:

    p(kept) = 1 / (1 + exp(-(slope * logit(confidence) + intercept[status])))

fitted by scikit-learn's LogisticRegression in `calibration_fit` (a management command, or a
scheduled task: `calibration_run`). Each fit is stored as a row of `SuggestionCalibration`.
The request path (`calibration_current`, `Calibrator.confidence`) only reads that row and does
the arithmetic above: scikit-learn is imported inside `calibration_fit` alone, never at import.

With fewer decisions than settings.ATTENDANCE_CALIBRATION_MIN_DECISIONS for a role, or a status
the fit never saw, the rule confidence stands unchanged.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from attendance.decisions import ROLES, SUGGESTED_STATUSES, Decision, decisions
from attendance.models import SuggestionCalibration

EPSILON = 0.01  # rule confidences are clipped to [0.01, 0.99] before the logit: 1.0 would be infinite
REGULARISATION_C = 10.0  # mild: a status seen a handful of times stays close to the shared slope


def minimum_decisions() -> int:
    return int(getattr(settings, "ATTENDANCE_CALIBRATION_MIN_DECISIONS", 200))


def logit(p: float) -> float:
    p = min(1 - EPSILON, max(EPSILON, p))
    return math.log(p / (1 - p))


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


def calibrated(parameters: dict, *, status: str, confidence: float) -> float | None:
    """The fitted probability that the status is kept, or None if the fit has no figure for this status."""
    intercepts = parameters.get("intercepts") or {}
    if status not in intercepts:
        return None
    return sigmoid(parameters["slope"] * logit(confidence) + intercepts[status])


@dataclass(frozen=True)
class Calibrator:
    """The calibration in force: per role, the fitted parameters, or None (rule confidence stands)."""

    parameters: dict[str, dict | None] = field(default_factory=dict)
    fits: dict[str, SuggestionCalibration | None] = field(default_factory=dict)

    def active(self, role: str) -> bool:
        return self.parameters.get(role) is not None

    def confidence(self, *, role: str, status: str, confidence: float) -> float:
        """The calibrated confidence of one participant's suggested status (the rule's when not calibrated)."""
        parameters = self.parameters.get(role)
        if parameters is None:
            return confidence
        value = calibrated(parameters, status=status, confidence=confidence)
        return confidence if value is None else value

    def session_confidence(self, suggestion) -> float:
        """A session's suggestion is only as sure as its less sure participant (calibrated figures)."""
        return min(
            self.confidence(role=role, status=part.status, confidence=part.confidence)
            for role, part in (("tutor", suggestion.tutor), ("student", suggestion.student))
        )


def calibration_latest() -> dict[str, SuggestionCalibration | None]:
    """The latest fit row per role (None: never fitted). One query."""
    latest: dict[str, SuggestionCalibration | None] = dict.fromkeys(ROLES)
    for row in SuggestionCalibration.objects.filter(role__in=ROLES).order_by("-fitted_at", "-id")[:50]:
        if latest.get(row.role) is None:
            latest[row.role] = row
    if any(v is None for v in latest.values()):  # more than 50 rows of one role since the other's last: rare
        for role in ROLES:
            if latest[role] is None:
                latest[role] = SuggestionCalibration.objects.filter(role=role).order_by("-fitted_at", "-id").first()
    return latest


def calibration_current() -> Calibrator:
    """The calibration the finaliser and the pages use. Reads the table only."""
    fits = calibration_latest()
    minimum = minimum_decisions()
    parameters = {
        role: (fit.parameters if fit is not None and fit.fitted and fit.sample_size >= minimum else None)
        for role, fit in fits.items()
    }
    return Calibrator(parameters=parameters, fits=fits)


# --- fitting (management command / scheduled task only) ------------------------


def brier(probabilities: list[float], outcomes: list[int]) -> float | None:
    if not outcomes:
        return None
    return sum((p - y) ** 2 for p, y in zip(probabilities, outcomes, strict=True)) / len(outcomes)


def expected_calibration_error(probabilities: list[float], outcomes: list[int], *, bins: int = 10) -> float | None:
    """Weighted mean |observed rate - mean confidence| over equal-width confidence bins."""
    if not outcomes:
        return None
    totals: dict[int, list[float]] = {}
    for p, y in zip(probabilities, outcomes, strict=True):
        b = min(bins - 1, int(p * bins))
        t = totals.setdefault(b, [0, 0.0, 0.0])
        t[0] += 1
        t[1] += p
        t[2] += y
    return sum(abs(t[2] / t[0] - t[1] / t[0]) * t[0] for t in totals.values()) / len(outcomes)


def _features(rows: list[Decision], statuses: list[str]) -> list[list[float]]:
    return [[logit(d.confidence), *(1.0 if d.suggested == s else 0.0 for s in statuses)] for d in rows]


def fit_parameters(rows: list[Decision]) -> tuple[dict, list[float]] | None:
    """Fit slope and per-status intercepts on these decisions; the parameters and out-of-fold predictions.

    None when the outcomes are all the same (nothing to fit). Imports scikit-learn: never call
    this on the request path.
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    outcomes = [int(d.kept) for d in rows]
    classes = Counter(outcomes)
    if len(classes) < 2:
        return None
    counts = Counter(d.suggested for d in rows)
    statuses = [s for s in SUGGESTED_STATUSES if counts[s]]
    x, y = np.array(_features(rows, statuses)), np.array(outcomes)
    model = LogisticRegression(fit_intercept=False, C=REGULARISATION_C, max_iter=1000)
    folds = min(5, min(classes.values()))
    if folds >= 2:  # Brier "after" on decisions each prediction did not see
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
        predicted = cross_val_predict(model, x, y, cv=cv, method="predict_proba")[:, 1].tolist()
    else:
        predicted = None
    model.fit(x, y)
    coefficients = model.coef_[0].tolist()
    parameters = {
        "slope": coefficients[0],
        "intercepts": dict(zip(statuses, coefficients[1:], strict=True)),
        "counts": {s: counts[s] for s in statuses},
    }
    if predicted is None:
        predicted = [calibrated(parameters, status=d.suggested, confidence=d.confidence) for d in rows]
    return parameters, predicted


@dataclass(frozen=True)
class CalibrationReport:
    fits: list[SuggestionCalibration]
    minimum: int


def calibration_fit(*, now: datetime | None = None, rows: list[Decision] | None = None) -> CalibrationReport:
    """Fit the calibration per role on every decision a person made, and store one row per role.

    Below the minimum number of decisions a role's row records the sample size with `fitted`
    False: the rule confidence stands, and the report page says so.
    """
    now = now or timezone.now()
    minimum = minimum_decisions()
    chosen = [d for d in (decisions() if rows is None else rows) if d.chosen]
    fits = []
    for role in ROLES:
        sample = [d for d in chosen if d.role == role]
        outcomes = [int(d.kept) for d in sample]
        before = brier([d.confidence for d in sample], outcomes)
        fit = SuggestionCalibration(
            fitted_at=now, role=role, sample_size=len(sample), brier_before=before, parameters={}
        )
        if len(sample) >= minimum:
            result = fit_parameters(sample)
            if result is not None:
                fit.parameters, predicted = result
                fit.brier_after = brier(predicted, outcomes)
                fit.fitted = True
        fit.save()
        fits.append(fit)
    return CalibrationReport(fits=fits, minimum=minimum)


def calibration_run() -> dict:
    """The scheduled task's body (Celery beat can wrap this): fit, and say what was stored."""
    report = calibration_fit()
    return {
        fit.role: {
            "sample_size": fit.sample_size,
            "fitted": fit.fitted,
            "brier_before": fit.brier_before,
            "brier_after": fit.brier_after,
        }
        for fit in report.fits
    }
