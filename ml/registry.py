"""The model registry: register candidates, keep the `champion` alias on the best, roll back.

Scoring always loads `models:/<name>@champion`, so moving the alias is how a model goes live,
and moving it back is how it is withdrawn.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import mlflow
from mlflow import MlflowClient

log = logging.getLogger(__name__)
CHAMPION = "champion"
CHALLENGER = "challenger"
# A candidate goes live only with every one of these defined and a calibrated churn probability.
SANITY_METRICS = ("roc_auc", "brier", "ece", "mean_probability", "spend_spearman")
MAX_CALIBRATION_ERROR = 0.15


@dataclass
class Registration:
    name: str
    version: str
    alias: str
    reason: str


def register(model_uri: str, name: str, run_id: str, metrics: dict[str, float], holdout_as_of: str,
             champion_auc_on_holdout: float | None, margin: float = 0.0) -> Registration:
    """Register the candidate, tag it with its holdout metrics, and give it an alias.

    It becomes champion when it passes the sanity checks and there is no champion, or it beats
    the champion's ROC-AUC on the same holdout by `margin`; otherwise it becomes challenger.
    """
    client = MlflowClient()
    version = mlflow.register_model(model_uri, name).version
    for key, value in metrics.items():
        client.set_model_version_tag(name, version, f"holdout_{key}", "nan" if undefined(value) else f"{value:.6f}")
    client.set_model_version_tag(name, version, "holdout_as_of", holdout_as_of)
    client.set_model_version_tag(name, version, "run_id", run_id)
    candidate = metrics["roc_auc"]
    problem = sanity_problem(metrics)
    if problem:
        alias, reason = CHALLENGER, problem
    elif champion_auc_on_holdout is None:
        alias, reason = CHAMPION, "first model of its name"
    elif candidate >= champion_auc_on_holdout + margin:
        alias, reason = CHAMPION, f"ROC-AUC {candidate:.4f} >= champion {champion_auc_on_holdout:.4f} + {margin}"
    else:
        alias, reason = CHALLENGER, f"ROC-AUC {candidate:.4f} < champion {champion_auc_on_holdout:.4f} + {margin}"
    client.set_model_version_tag(name, version, "gate_reason", reason)
    if alias == CHAMPION:
        promote(name, version)
    else:
        client.set_registered_model_alias(name, alias, version)
    log.info("%s version %s is now %s: %s", name, version, alias, reason)
    return Registration(name, str(version), alias, reason)


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
    try:
        return str(MlflowClient().get_model_version_by_alias(name, CHAMPION).version)
    except mlflow.exceptions.MlflowException:
        return None


def why_no_champion(name: str) -> str:
    """The latest version's registration reason, which says why it did not become champion."""
    versions = MlflowClient().search_model_versions(f"name = '{name}'", order_by=["version_number DESC"], max_results=1)
    if not versions:
        return "no version is registered yet."
    latest = versions[0]
    return f"version {latest.version} was not promoted ({latest.tags.get('gate_reason', 'no reason recorded')})."


def promote(name: str, version: str) -> None:
    """Make `version` the champion by hand, remembering the one it replaces."""
    client = MlflowClient()
    try:
        client.get_model_version(name, version)
    except mlflow.exceptions.MlflowException:
        raise ValueError(f"{name} has no version {version}; see the versions in the MLflow UI (Models).") from None
    previous = champion_version(name)
    if previous is not None and previous != str(version):
        client.set_model_version_tag(name, version, "replaced_champion", previous)
    client.set_registered_model_alias(name, CHAMPION, version)


def rollback(name: str) -> str:
    """Give the champion alias back to the version the current champion replaced."""
    client = MlflowClient()
    current = champion_version(name)
    if current is None:
        raise ValueError(f"{name} has no champion to roll back.")
    tags = client.get_model_version(name, current).tags
    previous = tags.get("replaced_champion")
    if previous is None:
        raise ValueError(f"{name} version {current} replaced no earlier champion; there is nothing to roll back to.")
    client.set_registered_model_alias(name, CHAMPION, previous)
    return previous
