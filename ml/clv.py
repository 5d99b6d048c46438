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

    model = BetaGeoModel()
    model.fit(data=summary[["customer_id", "frequency", "recency", "T"]], method="map", progressbar=False)
    return model


def fit_gamma_gamma(summary: pd.DataFrame):
    from pymc_marketing.clv import GammaGammaModel

    repeat = summary[summary["frequency"] > 0]
    model = GammaGammaModel()
    model.fit(data=repeat[["customer_id", "frequency", "monetary_value"]], method="map", progressbar=False)
    return model


def expected_purchases(model, summary: pd.DataFrame, days: int) -> np.ndarray:
    draws = model.expected_purchases(data=summary[["customer_id", "frequency", "recency", "T"]], future_t=days)
    return draws.mean(("chain", "draw")).to_numpy()


def expected_order_value(model, summary: pd.DataFrame) -> np.ndarray:
    """E[order value | history]: each repeat customer's mean shrunk towards the population's."""
    draws = model.expected_customer_spend(data=summary[["customer_id", "frequency", "monetary_value"]])
    return draws.mean(("chain", "draw")).to_numpy()


def probability_alive(model, summary: pd.DataFrame) -> np.ndarray:
    draws = model.expected_probability_alive(data=summary[["customer_id", "frequency", "recency", "T"]])
    return draws.mean(("chain", "draw")).to_numpy()


# Model-based features, one set per as-of date. They are NaN for customers who have not bought
# yet (BG/NBD describes buyers only); the models see a was-missing flag for them.
CLV_FEATURES = ("bgnbd_p_alive", "bgnbd_expected_orders", "gg_expected_order_value")
MIN_BUYERS = 10


def clv_features(frame: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """BG/NBD's P(alive) and expected orders over the next `horizon_days`, and Gamma-Gamma's
    expected order value, for each row of `frame` (customer_features rows, any as-of dates).

    The models are fitted separately for each as-of date on that date's rows alone, which
    describe only what happened before it: a feature as of T never sees data from T on, and
    training rows never see their labels.
    """
    out = pd.DataFrame(np.nan, index=frame.index, columns=list(CLV_FEATURES))
    for _, rows in frame.groupby("as_of", sort=True):
        buyers = rows[rows["frequency"].to_numpy("float64") > 0]
        summary = rfm_inputs(buyers)
        if len(buyers) < MIN_BUYERS or (summary["frequency"] > 0).sum() < MIN_BUYERS:
            continue  # too little history at this date to fit anything
        beta_geo = fit_beta_geo(summary)
        out.loc[buyers.index, "bgnbd_p_alive"] = probability_alive(beta_geo, summary)
        out.loc[buyers.index, "bgnbd_expected_orders"] = expected_purchases(beta_geo, summary, horizon_days)
        out.loc[buyers.index, "gg_expected_order_value"] = expected_order_value(fit_gamma_gamma(summary), summary)
    return out


def with_clv_features(frame: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    return pd.concat([frame.drop(columns=list(CLV_FEATURES), errors="ignore"), clv_features(frame, horizon_days)], axis=1)
