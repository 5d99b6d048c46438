"""The model registry: register candidates, keep the `champion` alias on the best, roll back.

Every family's candidates are versions of one registered model, tagged `family` and aliased by
it (`@lightgbm`, `@bg_nbd`, `@blend`, `@transformer` name each family's latest). Scoring always loads
`models:/<name>@champion`, so moving the alias is how a model goes live, and moving it back is
how it is withdrawn.

`promote` and `rollback` are the only ways the champion alias moves, for every registered model:
the customer models' gate here, the text classifiers' (ml/training/text_classifier.py) and
`clm promote`/`clm rollback` by hand. Each model keeps its own rule for judging a version (`judge`
here; the text classifiers' `judge`), a plain function of metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import mlflow
import numpy as np
from mlflow import MlflowClient

from ml.training import tracking

log = logging.getLogger(__name__)
CHAMPION = "champion"
CHALLENGER = "challenger"
# Version tags: the champion a promotion replaced (what rollback gives the alias back to), and
# why the version last became champion.
REPLACED_CHAMPION = "replaced_champion"
CHAMPION_REASON = "champion_reason"
# A candidate goes live only with every one of these defined and a calibrated churn probability.
SANITY_METRICS = ("roc_auc", "brier", "ece", "mean_probability", "spend_spearman", "orders_poisson_deviance")
MAX_CALIBRATION_ERROR = 0.15
# The error codes of a registry lookup that found no such model or alias.
ABSENT = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}


# The gate judges every candidate on the last k cutoffs whose labels are complete (each scored by
# a model that never saw it; ml/training/candidates.py), with the metrics' mean over them.
# The best candidate has the highest mean churn ROC-AUC, except that among candidates within
# AUC_TOLERANCE of it the one with the lowest mean expected-orders Poisson deviance wins (they
# rank customers alike; it forecasts orders better). It replaces the champion, re-scored on the
# same cutoffs, only when it wins by more than the cutoff-to-cutoff noise (`compare`): its
# ROC-AUC, lowered by CLM_PROMOTION_MARGIN, higher by more than the noise; or, the two tied
# within it, its deviance lower by more than that metric's noise.
AUC_TOLERANCE = 0.005


@dataclass(frozen=True)
class Comparison:
    """A challenger's metric against the champion's on the same cutoffs (higher is better)."""

    difference: float  # mean over the cutoffs of challenger - champion
    noise: float  # the standard error of that mean, at least the metric's floor

    @property
    def wins(self) -> bool:
        return self.difference > self.noise

    @property
    def loses(self) -> bool:
        return self.difference < -self.noise

    def __str__(self) -> str:
        return f"{self.difference:+.4f} (noise {self.noise:.4f})"


def compare(challenger: Sequence[float], champion: Sequence[float], floor: float = 0.0) -> Comparison:
    """The mean paired difference and its noise: the standard error of the per-cutoff
    differences, sd / sqrt(k), which two models tied in truth exceed about one time in six.
    Paired, because cutoffs differ more from each other (a quiet month, a sale) than models
    do on the same cutoff. With one cutoff there is no spread to measure: the floor is the noise."""
    differences = np.asarray(challenger, dtype="float64") - np.asarray(champion, dtype="float64")
    spread = float(differences.std(ddof=1) / np.sqrt(len(differences))) if len(differences) > 1 else 0.0
    return Comparison(float(differences.mean()), max(spread, floor))


@dataclass
class Registration:
    name: str
    version: str
    family: str
    alias: str
    reason: str


def register_candidates(candidates: list[dict], name: str, champion_by_cutoff: dict[str, dict[str, float]] | None,
                        margin: float = 0.0) -> list[Registration]:
    """Register every candidate (tagged with its family, its mean holdout metrics and the cutoffs
    they were measured on, aliased by its family), then give the champion alias to the best one
    if it beats the champion re-scored on the same cutoffs (`champion_by_cutoff`)."""
    client = MlflowClient()
    versions = {}
    for candidate in candidates:
        version = mlflow.register_model(candidate["model_uri"], name).version
        tags = {f"holdout_{k}": "nan" if undefined(v) else f"{v:.6f}" for k, v in candidate["metrics"].items()}
        tags.update(family=candidate["family"], holdout_as_of=candidate["holdout_as_of"], run_id=candidate["run_id"],
                    holdout_cutoffs=", ".join(sorted(candidate["cutoff_metrics"])))
        for key, value in tags.items():
            client.set_model_version_tag(name, version, key, value)
        client.set_registered_model_alias(name, candidate["family"], version)
        versions[candidate["family"]] = str(version)

    problems = {c["family"]: sanity_problem(c["metrics"]) for c in candidates}
    eligible = {c["family"]: c for c in candidates if problems[c["family"]] is None}
    winner = best({family: c["metrics"] for family, c in eligible.items()})
    reasons = {family: f"not promoted: {problem}" for family, problem in problems.items() if problem}
    for family in eligible:
        if family != winner:
            reasons[family] = (f"not promoted: {winner} is better over the holdout cutoffs "
                               f"({describe(eligible[winner]['metrics'])})")
    registrations = [Registration(name, versions[f], f, f, reasons[f]) for f in versions if f != winner]
    if winner is not None:
        registrations.append(gate(name, versions[winner], winner, eligible[winner]["cutoff_metrics"],
                                  champion_by_cutoff, margin))
    for registration in registrations:
        client.set_model_version_tag(name, registration.version, "gate_reason", registration.reason)
        log.info("%s version %s (%s): %s", name, registration.version, registration.family, registration.reason)
    return registrations


def gate(name: str, version: str, family: str, by_cutoff: dict[str, dict[str, float]],
         champion: dict[str, dict[str, float]] | None, margin: float) -> Registration:
    """Promote the best candidate if `judge` says so; else alias it `challenger`."""
    promoted, reason = judge(by_cutoff, champion, margin)
    if promoted:
        promote(name, version, reason)
    else:
        MlflowClient().set_registered_model_alias(name, CHALLENGER, version)
    return Registration(name, version, family, CHAMPION if promoted else CHALLENGER, reason)


def judge(candidate: dict[str, dict[str, float]], champion: dict[str, dict[str, float]] | None,
          margin: float = 0.0) -> tuple[bool, str]:
    """The customer models' rule for the best candidate (see AUC_TOLERANCE): whether it replaces
    the champion, both scored on the same cutoffs (metrics per cutoff date), and why."""
    mine = describe(mean_metrics(candidate))
    if champion is None:
        return True, f"best candidate ({mine}); first champion"
    cutoffs = sorted(set(candidate) & set(champion))
    if not cutoffs:
        return True, f"best candidate ({mine}); the champion was not scored on its cutoffs"

    def paired(key: str, sign: float, shift: float = 0.0, floor: float = 0.0) -> Comparison:
        return compare([sign * candidate[c][key] - shift for c in cutoffs], [sign * champion[c][key] for c in cutoffs],
                       floor)

    auc = paired("roc_auc", 1.0, margin, AUC_TOLERANCE)
    deviance = paired("orders_poisson_deviance", -1.0)
    theirs = f"the champion ({describe(mean_metrics({c: champion[c] for c in cutoffs}))}) on {len(cutoffs)} cutoff(s)"
    if auc.wins:
        return True, f"best candidate ({mine}) beats {theirs}: ROC-AUC {auc}"
    if not auc.loses and deviance.wins:
        return True, f"best candidate ({mine}) ties {theirs} on ROC-AUC {auc} and forecasts orders better: deviance {deviance}"
    return False, f"best candidate ({mine}) does not beat {theirs} by more than the noise: ROC-AUC {auc}, deviance {deviance}"


def mean_metrics(by_cutoff: dict[str, dict[str, float]]) -> dict[str, float]:
    """Each metric's mean over the cutoffs (NaN where a cutoff leaves it undefined)."""
    keys = set.intersection(*(set(metrics) for metrics in by_cutoff.values()))
    return {key: float(np.mean([float("nan") if undefined(m[key]) else m[key] for m in by_cutoff.values()]))
            for key in sorted(keys)}


def best(candidates: dict[str, dict[str, float]]) -> str | None:
    """The gate's rule over candidates that passed the sanity checks (see AUC_TOLERANCE)."""
    if not candidates:
        return None
    top = max(m["roc_auc"] for m in candidates.values())
    contenders = {family: m for family, m in candidates.items() if m["roc_auc"] >= top - AUC_TOLERANCE}
    return min(contenders, key=lambda family: (contenders[family]["orders_poisson_deviance"], -contenders[family]["roc_auc"]))


def describe(metrics: dict[str, float]) -> str:
    return f"ROC-AUC {metrics['roc_auc']:.4f}, orders deviance {metrics['orders_poisson_deviance']:.4f}"


def sanity_problem(metrics: dict[str, float]) -> str | None:
    """Why a candidate must not go live whatever its ranking, or None."""
    if any(undefined(metrics.get(key)) for key in SANITY_METRICS):
        return "a holdout metric is undefined (NaN)"
    bound = calibration_bound(int(metrics.get("holdout_rows", 0)))
    if metrics["ece"] > bound:
        return f"calibration error {metrics['ece']:.3f} above {bound:.3f}"
    return None


def undefined(value: float | None) -> bool:
    return value is None or value != value


def calibration_bound(rows: int) -> float:
    """MAX_CALIBRATION_ERROR, widened on small holdouts to three standard errors of a bin's
    churn rate (ten bins), so that a small shop's noise does not read as miscalibration."""
    if rows <= 0:
        return MAX_CALIBRATION_ERROR
    return max(MAX_CALIBRATION_ERROR, 3 * (0.25 / (rows / 10)) ** 0.5)


def champion_version(name: str) -> str | None:
    """The champion's version; None when the model or its alias does not exist yet. A tracking
    server that does not answer is an error naming it, never "no champion"."""
    try:
        return str(MlflowClient().get_model_version_by_alias(name, CHAMPION).version)
    except mlflow.exceptions.MlflowException as error:
        if error.error_code in ABSENT:
            return None
        raise tracking.unreachable(error) from None


def family_of(name: str, version: str) -> str:
    """The model family of a version ('transformer' for versions from before families were tagged)."""
    return MlflowClient().get_model_version(name, version).tags.get("family", "transformer")


def why_no_champion(name: str) -> str:
    """The latest version's registration reason, which says why it did not become champion."""
    versions = MlflowClient().search_model_versions(f"name = '{name}'", order_by=["version_number DESC"], max_results=1)
    if not versions:
        return "no version is registered yet."
    latest = versions[0]
    return f"version {latest.version} was not promoted ({latest.tags.get('gate_reason', 'no reason recorded')})."


def promote(name: str, version: str, reason: str) -> None:
    """Make `version` the champion for `reason`, remembering the one it replaces (its
    `replaced_champion` tag), so `rollback` can give the alias back."""
    client = MlflowClient()
    version = str(version)
    try:
        client.get_model_version(name, version)
    except mlflow.exceptions.MlflowException:
        raise ValueError(f"{name} has no version {version}; see the versions in the MLflow UI (Models).") from None
    previous = champion_version(name)
    if previous is not None and previous != version:
        client.set_model_version_tag(name, version, REPLACED_CHAMPION, previous)
    crown(client, name, version, reason)


def rollback(name: str) -> str:
    """Give the champion alias back to the version the current champion replaced; rolling back
    again goes one promotion further back."""
    client = MlflowClient()
    current = champion_version(name)
    if current is None:
        raise ValueError(f"{name} has no champion to roll back.")
    previous = client.get_model_version(name, current).tags.get(REPLACED_CHAMPION)
    if previous is None:
        raise ValueError(f"{name} version {current} replaced no earlier champion; there is nothing to roll back to.")
    crown(client, name, previous, f"rolled back from version {current}")
    return previous


def crown(client: MlflowClient, name: str, version: str, reason: str) -> None:
    """Move the champion alias to `version` and tag why (`champion_reason`): promote and rollback only."""
    client.set_model_version_tag(name, version, CHAMPION_REASON, reason)
    client.set_registered_model_alias(name, CHAMPION, version)
