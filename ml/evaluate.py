"""Every candidate judged the same way on the time-based holdout.

`holdout_metrics` turns one candidate's scores into the metrics the registry gate and the
MLflow comparison table read; `compare` puts the baselines beside the candidates it is given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from ml import baselines
from ml import metrics as m
from ml.features import sentiment_labels
from ml.model import VALUE_TIERS


def holdout_metrics(scores: pd.DataFrame, holdout: pd.DataFrame, tier_of) -> dict[str, float]:
    """`tier_of` maps next-H-day spend to a tier index, so true and predicted tiers share cut points."""
    churned = holdout["churned"].astype(int).to_numpy()
    spend = holdout["future_spend"].to_numpy("float64")
    tiers = np.asarray(VALUE_TIERS)[tier_of(spend)]
    return {
        **m.churn_metrics(churned, scores["churn_probability"].to_numpy()),
        **m.value_metrics(spend, scores["expected_spend"].to_numpy()),
        **m.order_metrics(holdout["future_orders"].to_numpy("float64"), scores["expected_orders"].to_numpy("float64")),
        **m.tier_metrics(tiers, scores["value_tier"].to_numpy()),
        **sentiment_metrics(scores, holdout),
    }


def sentiment_metrics(scores: pd.DataFrame, holdout: pd.DataFrame) -> dict[str, float]:
    """Macro-F1 of the latest review's sentiment against its stars, where the model scores it."""
    if "review_sentiment" not in scores:
        return {}
    labels = sentiment_labels(holdout)
    known = labels >= 0
    if not known.any():
        return {}  # no reviews in the holdout (an order log alone): nothing to score
    predicted = np.digitize(scores["review_sentiment"].to_numpy()[known], [-1 / 3, 1 / 3])
    return {"sentiment_macro_f1": float(f1_score(labels[known], predicted, average="macro", zero_division=0))}


def compare(train: pd.DataFrame, holdout: pd.DataFrame, tier_of, candidates: dict[str, dict]) -> pd.DataFrame:
    """One row per candidate, then LightGBM and BG/NBD + Gamma-Gamma fitted on the same split."""
    horizon = int(holdout["horizon_days"].iloc[0])
    rows = dict(candidates)
    for name, scores in (("lightgbm", baselines.lightgbm_scores(train, holdout)),
                         ("bg_nbd_gamma_gamma", baselines.bgnbd_scores(holdout, horizon))):
        scores["value_tier"] = np.asarray(VALUE_TIERS)[tier_of(scores["expected_spend"].to_numpy())]
        rows[name] = holdout_metrics(scores, holdout, tier_of)
    return pd.DataFrame([{"model": name, **values} for name, values in rows.items()])
