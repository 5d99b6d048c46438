"""What each training run leaves for analysts: every candidate's holdout metrics and the gate's
verdict (`model_evaluation`) and its churn calibration and cumulative gain curves (`model_curves`),
appended to the build schema once the gate has decided (the register step, ml/run/steps.py),
earlier runs' rows kept.

The publish step copies both beside the dbt models tagged `published`; a shop that has never
trained gets them empty (`ensure`), so what reads the analysts' database always finds them.
The metrics are the means over the holdout cutoffs that MLflow logs as `holdout_<metric>`
(ml/training/evaluate.py); the curves are the points of the newest cutoff's plots
(ml/training/metrics.py, `churn_curves`). docs/analysts.md describes the columns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from ml.data.warehouse import BUILD, Warehouse, utc_now

MODEL_EVALUATION = "model_evaluation"
MODEL_CURVES = "model_curves"
# The holdout metrics kept, named as ml/training/metrics.py names them: churn, value (spend),
# orders, tiers, review sentiment (NULL for a candidate that does not score it).
METRICS = ("roc_auc", "pr_auc", "brier", "ece", "lift_top10", "churn_rate", "mean_probability",
           "spend_spearman", "spend_gini", "spend_decile_mape", "spend_aggregate_error",
           "orders_mae", "orders_pearson", "orders_poisson_deviance", "orders_aggregate_error",
           "tier_macro_f1", "sentiment_macro_f1")
CURVES = ("calibration", "cumulative_gain")
# Each table's columns and their SQL types, which both engines read the same way. Columns are
# only ever added, at the end: the tables keep every training run's rows.
TABLES: dict[str, dict[str, str]] = {
    MODEL_EVALUATION: {
        "trained_at": "timestamp", "run_id": "string", "model_name": "string", "model_family": "string",
        "model_version": "bigint", "promoted": "boolean", "holdout_as_of": "date", "holdout_cutoffs": "int",
        "holdout_rows": "bigint", **{metric: "double" for metric in METRICS},
    },
    MODEL_CURVES: {
        "trained_at": "timestamp", "run_id": "string", "model_family": "string", "model_version": "bigint",
        "curve": "string", "point": "int", "x": "double", "y": "double",
    },
}


def record(wh: Warehouse, candidates: Sequence[dict], registrations: Sequence, model_name: str) -> dict[str, int]:
    """Append a training run's rows to both tables in the build schema; rows added per table.

    `candidates` are the train step's (TrainResult as dicts, with the run's `trained_at`),
    `registrations` the registry's verdict on each (ml/training/registry.py, Registration)."""
    frames = tables(candidates, registrations, model_name)
    return {name: wh.append_table(f"{BUILD}.{name}", frame, TABLES[name]) for name, frame in frames.items()}


def ensure(wh: Warehouse) -> list[str]:
    """Create the tables, empty, in the build schema where no training has written them yet;
    return their names, for publish."""
    for name, columns in TABLES.items():
        wh.append_table(f"{BUILD}.{name}", pd.DataFrame(columns=list(columns)), columns)
    return list(TABLES)


def tables(candidates: Sequence[dict], registrations: Sequence, model_name: str) -> dict[str, pd.DataFrame]:
    """The rows of both tables for one training run: one per candidate, and one per point of
    each of its curves."""
    from ml.training.registry import CHAMPION

    trained_at = trained(candidates)
    versions = {r.family: int(r.version) for r in registrations}
    promoted = {r.family for r in registrations if r.alias == CHAMPION}
    evaluation, curves = [], []
    for candidate in candidates:
        family, version = candidate["family"], versions.get(candidate["family"])
        by_cutoff = candidate.get("cutoff_metrics") or {}
        evaluation.append({
            "trained_at": trained_at, "run_id": candidate["run_id"], "model_name": model_name, "model_family": family,
            "model_version": version, "promoted": family in promoted,
            "holdout_as_of": pd.Timestamp(candidate["holdout_as_of"]).date(), "holdout_cutoffs": len(by_cutoff),
            "holdout_rows": int(sum(defined(m.get("holdout_rows")) or 0 for m in by_cutoff.values())),
            **{metric: defined(candidate["metrics"].get(metric)) for metric in METRICS},
        })
        for curve in CURVES:
            points = (candidate.get("curves") or {}).get(curve, {"x": [], "y": []})
            curves += [{"trained_at": trained_at, "run_id": candidate["run_id"], "model_family": family,
                        "model_version": version, "curve": curve, "point": point, "x": float(x), "y": float(y)}
                       for point, (x, y) in enumerate(zip(points["x"], points["y"], strict=True))]
    return {MODEL_EVALUATION: pd.DataFrame(evaluation, columns=list(TABLES[MODEL_EVALUATION])),
            MODEL_CURVES: pd.DataFrame(curves, columns=list(TABLES[MODEL_CURVES]))}


def trained(candidates: Sequence[dict]) -> datetime:
    """When the run trained (UTC), as the train step stamped its candidates; now without a stamp."""
    stamp = next((c["trained_at"] for c in candidates if c.get("trained_at")), None)
    return pd.Timestamp(stamp).to_pydatetime() if stamp else utc_now()


def defined(value: float | None) -> float | None:
    """A metric as a column holds it: NULL where it is undefined (NaN, or None after an XCom)."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
