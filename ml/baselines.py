"""Honest baselines, trained and scored on the same split as the transformer.

* LightGBM on the same numeric features (a churn classifier and a Poisson spend regressor);
* BG/NBD + Gamma-Gamma (pymc-marketing) on the RFM summary alone (see ml/clv.py).

`compare` returns one row per candidate with the same holdout metrics, so the comparison
table in MLflow reads across.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from ml import metrics as m
from ml.clv import expected_order_value, expected_purchases, fit_beta_geo, fit_gamma_gamma, rfm_inputs
from ml.features import numeric_matrix, sentiment_labels
from ml.model import VALUE_TIERS


def lightgbm_scores(train: pd.DataFrame, holdout: pd.DataFrame, seed: int = 42) -> pd.DataFrame:
    import lightgbm as lgb

    params = {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20,
              "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8, "random_state": seed,
              "verbose": -1, "n_jobs": 2}
    x_train, x_holdout = numeric_matrix(train), numeric_matrix(holdout)
    churn = lgb.LGBMClassifier(**params).fit(x_train, train["churned"].astype(int))
    spend = lgb.LGBMRegressor(objective="poisson", **params).fit(x_train, train["future_spend"])
    orders = lgb.LGBMRegressor(objective="poisson", **params).fit(x_train, train["future_orders"])
    return pd.DataFrame({
        "churn_probability": churn.predict_proba(x_holdout)[:, 1],
        "expected_orders": orders.predict(x_holdout),
        "expected_spend": spend.predict(x_holdout),
    })


def bgnbd_scores(history: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """BG/NBD + Gamma-Gamma fitted on the customers' histories before the cutoff (no labels)."""
    summary = rfm_inputs(history)
    buyers = history["frequency"].to_numpy() > 0
    purchases, value = np.zeros(len(history)), np.zeros(len(history))
    if buyers.sum() >= 10 and (summary["frequency"][buyers] > 0).sum() >= 10:
        known = summary[buyers]
        purchases[buyers] = expected_purchases(fit_beta_geo(known), known, horizon_days)
        value[buyers] = expected_order_value(fit_gamma_gamma(known), known)
    return pd.DataFrame({
        # P(no purchase in the horizon) under a Poisson count with the expected mean.
        "churn_probability": np.exp(-purchases),
        "expected_orders": purchases,
        "expected_spend": purchases * value,
    })


def compare(train: pd.DataFrame, holdout: pd.DataFrame, prep, candidates: dict[str, dict]) -> pd.DataFrame:
    """One row per candidate model with the same holdout metrics."""
    horizon = int(holdout["horizon_days"].iloc[0])
    rows = dict(candidates)
    for name, scores in (("lightgbm", lightgbm_scores(train, holdout)), ("bg_nbd_gamma_gamma", bgnbd_scores(holdout, horizon))):
        scores["value_tier"] = np.asarray(VALUE_TIERS)[prep.tier_of(scores["expected_spend"].to_numpy())]
        rows[name] = holdout_metrics(scores, holdout, prep)
    return pd.DataFrame([{"model": name, **values} for name, values in rows.items()])


def holdout_metrics(scores: pd.DataFrame, holdout: pd.DataFrame, prep) -> dict[str, float]:
    churned = holdout["churned"].astype(int).to_numpy()
    spend = holdout["future_spend"].to_numpy("float64")
    tiers = np.asarray(VALUE_TIERS)[prep.tier_of(spend)]
    return {
        **m.churn_metrics(churned, scores["churn_probability"].to_numpy()),
        **m.value_metrics(spend, scores["expected_spend"].to_numpy()),
        **m.tier_metrics(tiers, scores["value_tier"].to_numpy()),
        "orders_mae": float(np.abs(scores["expected_orders"] - holdout["future_orders"]).mean()),
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
