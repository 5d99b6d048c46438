"""BG/NBD and Gamma-Gamma, the standard probabilistic models of repeat purchases and spend,
through pymc-marketing (MAP fits: seconds, and no sampler in the pipeline).

pymc-marketing 1.x needs Python 3.12; the project is on 3.11, so it is pinned to 0.19.2, whose
`BetaGeoModel` and `GammaGammaModel` are the same models.

Inputs use the usual convention, all in days: `frequency` = repeat purchases (orders - 1),
`recency` = time from first to last purchase, `T` = time from first purchase to the cutoff.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def rfm_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """The BG/NBD summary of customer_features rows: frequency, recency, T, monetary_value."""
    orders = frame["frequency"].to_numpy("float64")
    T = np.nan_to_num(frame["days_since_first_order"].to_numpy("float64"))
    last = np.nan_to_num(frame["recency_days"].to_numpy("float64"))
    return pd.DataFrame({
        "customer_id": np.arange(len(frame)),
        "frequency": np.maximum(orders - 1, 0),
        "recency": np.where(orders > 1, T - last, 0.0),
        "T": T,
        # Mean order value; Gamma-Gamma reads it for repeat customers only.
        "monetary_value": np.where(orders > 1, np.nan_to_num(frame["avg_order_value"].to_numpy("float64")), 0.0),
    })


def fit_beta_geo(summary: pd.DataFrame):
    from pymc_marketing.clv import BetaGeoModel

    model = BetaGeoModel(data=summary[["customer_id", "frequency", "recency", "T"]])
    model.fit(method="map", progressbar=False)
    return model


def fit_gamma_gamma(summary: pd.DataFrame):
    from pymc_marketing.clv import GammaGammaModel

    repeat = summary[summary["frequency"] > 0]
    model = GammaGammaModel(data=repeat[["customer_id", "frequency", "monetary_value"]])
    model.fit(method="map", progressbar=False)
    return model


def expected_purchases(model, summary: pd.DataFrame, days: int) -> np.ndarray:
    draws = model.expected_purchases(data=summary[["customer_id", "frequency", "recency", "T"]], future_t=days)
    return draws.mean(("chain", "draw")).to_numpy()


def expected_order_value(model, summary: pd.DataFrame) -> np.ndarray:
    """E[order value | history]: each repeat customer's mean shrunk towards the population's."""
    draws = model.expected_customer_spend(data=summary[["customer_id", "frequency", "monetary_value"]])
    return draws.mean(("chain", "draw")).to_numpy()
