"""Honest baselines, trained and scored on the same split as the transformer.

* LightGBM on the same numeric features (a churn classifier and a Poisson spend regressor);
* BG/NBD + Gamma-Gamma (pymc-marketing) on the RFM summary alone (see ml/clv.py).

ml/evaluate.py scores them on the holdout beside the transformer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.clv import expected_order_value, expected_purchases, fit_beta_geo, fit_gamma_gamma, rfm_inputs
from ml.features import numeric_matrix


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
