"""BG/NBD and Gamma-Gamma, the standard probabilistic models of repeat purchases and spend,
fitted by maximising their closed-form likelihoods (Fader, Hardie & Lee 2005; Fader & Hardie
2013) with scipy.

Both likelihoods are sums of a few log-gamma terms per customer, so a fit is a four- or
three-parameter optimisation over vectorised numpy, with none of the graph compiling that
pymc-marketing's MAP fits paid in every process (docs/decisions/0002-bgnbd-fitted-with-scipy.md). The
parameters carry weak log-normal priors (log-parameter ~ Normal(0, 3)), which change nothing on
thousands of buyers and keep a fit on a handful of them finite. Fits use at most FIT_SAMPLE
buyers (a seeded sample): four parameters are pinned down long before that, and the fit's cost
then stays flat however many customers are scored.

Inputs use the usual convention, all in days: `frequency` = repeat purchases (orders - 1),
`recency` = time from first to last purchase, `T` = time from first purchase to the cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import gammaln, hyp2f1

FIT_SAMPLE = 200_000
PRIOR_SD = 3.0


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


def maximise(negative_log_likelihood, start: np.ndarray) -> np.ndarray:
    """The parameters (positive) that maximise the likelihood under the weak priors."""
    def objective(log_params: np.ndarray) -> float:
        return negative_log_likelihood(np.exp(log_params)) + float(np.sum(log_params ** 2)) / (2 * PRIOR_SD ** 2)

    found = minimize(objective, np.log(start), method="L-BFGS-B", bounds=[(-12.0, 12.0)] * len(start))
    return np.exp(found.x)


def fit_sample(summary: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    return summary.sample(FIT_SAMPLE, random_state=seed) if len(summary) > FIT_SAMPLE else summary


@dataclass(frozen=True)
class BetaGeo:
    """BG/NBD: purchases at a Gamma(r, alpha)-distributed rate, and after each one a
    Beta(a, b)-distributed chance of leaving for good."""

    r: float
    alpha: float
    a: float
    b: float

    @classmethod
    def fit(cls, summary: pd.DataFrame) -> BetaGeo:
        data = fit_sample(summary)
        x, t_x, T = (data[c].to_numpy("float64") for c in ("frequency", "recency", "T"))

        def negative_log_likelihood(params: np.ndarray) -> float:
            return -float(np.sum(cls(*params).log_likelihood(x, t_x, T)))

        return cls(*maximise(negative_log_likelihood, np.array([1.0, max(float(T.mean()), 1.0), 1.0, 1.0])))

    def log_likelihood(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        common = (gammaln(r + x) - gammaln(r) + r * np.log(alpha)
                  + gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x))
        stayed = -(r + x) * np.log(alpha + T)
        left = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + t_x),
                        -np.inf)
        return common + np.logaddexp(stayed, left)

    def _odds_gone(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """P(left) / P(alive) given the history: zero for customers who never bought again."""
        ratio = np.exp((self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x)))
        return np.where(x > 0, self.a / np.maximum(self.b + x - 1, 1e-12) * ratio, 0.0)

    def probability_alive(self, summary: pd.DataFrame) -> np.ndarray:
        x, t_x, T = (summary[c].to_numpy("float64") for c in ("frequency", "recency", "T"))
        return 1.0 / (1.0 + self._odds_gone(x, t_x, T))

    def expected_purchases(self, summary: pd.DataFrame, days: float) -> np.ndarray:
        """E[purchases in the next `days` | history] (Fader, Hardie & Lee 2005, eq. 10)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        x, t_x, T = (summary[c].to_numpy("float64") for c in ("frequency", "recency", "T"))
        z = days / (alpha + T + days)
        decay = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + days)))
        alive_part = (a + b + x - 1) / (a - 1) * (1 - decay * hyp2f1(r + x, b + x, a + b + x - 1, z))
        return alive_part / (1.0 + self._odds_gone(x, t_x, T))


@dataclass(frozen=True)
class GammaGamma:
    """Gamma-Gamma: each order's value is Gamma(p, nu) with the customer's nu ~ Gamma(q, v)."""

    p: float
    q: float
    v: float

    @classmethod
    def fit(cls, summary: pd.DataFrame) -> GammaGamma:
        repeat = fit_sample(summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)])
        x, m = repeat["frequency"].to_numpy("float64"), repeat["monetary_value"].to_numpy("float64")

        def negative_log_likelihood(params: np.ndarray) -> float:
            p, q, v = params
            return -float(np.sum(gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v)
                                 + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(x * m + v)))

        return cls(*maximise(negative_log_likelihood, np.array([1.0, 1.0, max(float(m.mean()), 1.0)])))

    def expected_order_value(self, summary: pd.DataFrame) -> np.ndarray:
        """E[order value | history]: each repeat customer's mean shrunk towards the population's."""
        x, m = summary["frequency"].to_numpy("float64"), summary["monetary_value"].to_numpy("float64")
        shrink = self.p * x + self.q - 1  # not positive only where q < 1: no finite population mean
        return np.where(shrink > 0, self.p * (self.v + x * m) / np.where(shrink > 0, shrink, 1.0), m)


# Model-based features, one set per as-of date. They are NaN for customers who have not bought
# yet (BG/NBD describes buyers only); the models see a was-missing flag for them.
CLV_FEATURES = ("bgnbd_p_alive", "bgnbd_expected_orders", "gg_expected_order_value")
MIN_BUYERS = 10


def clv_features(frame: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """BG/NBD's P(alive) and expected orders over the next `horizon_days`, and Gamma-Gamma's
    expected order value, for each row of `frame` (customer_features rows, any as-of dates).

    The models are fitted separately for each as-of date on that date's rows alone, which
    describe only what happened before it: a feature as of T never sees data from T on, and
    training rows never see their labels. They are fitted on the rows in customer order: the
    warehouse returns rows in no fixed order, and the optimiser's sums (and the sample of a
    large shop) must not depend on it, or a rerun would score some customers differently.
    """
    out = pd.DataFrame(np.nan, index=frame.index, columns=list(CLV_FEATURES))
    for _, rows in frame.groupby("as_of", sort=True):
        buyers = rows[rows["frequency"].to_numpy("float64") > 0].sort_values("customer_id", kind="stable")
        summary = rfm_inputs(buyers)
        if len(buyers) < MIN_BUYERS or (summary["frequency"] > 0).sum() < MIN_BUYERS:
            continue  # too little history at this date to fit anything
        beta_geo = BetaGeo.fit(summary)
        out.loc[buyers.index, "bgnbd_p_alive"] = beta_geo.probability_alive(summary)
        out.loc[buyers.index, "bgnbd_expected_orders"] = beta_geo.expected_purchases(summary, horizon_days)
        out.loc[buyers.index, "gg_expected_order_value"] = GammaGamma.fit(summary).expected_order_value(summary)
    return out


def with_clv_features(frame: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    return pd.concat([frame.drop(columns=list(CLV_FEATURES), errors="ignore"), clv_features(frame, horizon_days)], axis=1)
