"""BG/NBD and Gamma-Gamma: the standard probabilistic models of repeat purchases and spend.

Fitted by maximum likelihood on the closed-form likelihoods of Fader, Hardie & Lee (2005,
"Counting your customers the easy way") and Fader & Hardie (2013, the Gamma-Gamma note), with
scipy. `pymc-marketing` fits the same models in a Bayesian way but brings pymc and a C
compiler step (pytensor) into every install; the MLE is the textbook baseline and needs none.

Inputs use the usual convention, all in days: `frequency` = repeat purchases (orders - 1),
`recency` = time from first to last purchase, `T` = time from first purchase to the cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1


@dataclass
class BetaGeo:
    r: float
    alpha: float
    a: float
    b: float

    @classmethod
    def fit(cls, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> "BetaGeo":
        x, t_x, T = (np.asarray(v, dtype="float64") for v in (frequency, recency, T))
        scale = T.max() / 10  # fit in rescaled time: better conditioned, alpha scaled back after

        def negative_log_likelihood(log_params: np.ndarray) -> float:
            r, alpha, a, b = np.exp(log_params)
            ts, Ts = t_x / scale, T / scale
            a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
            a2 = betaln(a, b + x) - betaln(a, b)
            a3 = -(r + x) * np.log(alpha + Ts)
            a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + ts), -np.inf)
            return -np.sum(a1 + a2 + np.logaddexp(a3, a4))

        best = minimize(negative_log_likelihood, np.zeros(4), method="Nelder-Mead",
                        options={"maxiter": 4000, "xatol": 1e-6, "fatol": 1e-8})
        r, alpha, a, b = np.exp(best.x)
        return cls(r=r, alpha=alpha * scale, a=a, b=b)

    def expected_purchases(self, t: float, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> np.ndarray:
        """E[purchases in the next t days | history] per customer."""
        x, t_x, T = (np.asarray(v, dtype="float64") for v in (frequency, recency, T))
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        z = t / (alpha + T + t)
        head = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z))
        alive_odds = np.where(x > 0, a / np.maximum(b + x - 1, 1e-12) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
        return head / (1 + alive_odds)


@dataclass
class GammaGamma:
    p: float
    q: float
    v: float

    @classmethod
    def fit(cls, frequency: np.ndarray, monetary: np.ndarray) -> "GammaGamma":
        """Fit on repeat customers' mean order value (frequency > 0, monetary > 0)."""
        keep = (np.asarray(frequency) > 0) & (np.asarray(monetary) > 0)
        x, mx = np.asarray(frequency, dtype="float64")[keep], np.asarray(monetary, dtype="float64")[keep]
        scale = mx.mean()

        def negative_log_likelihood(log_params: np.ndarray) -> float:
            p, q, v = np.exp(log_params)
            m = mx / scale
            return -np.sum(gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v)
                           + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(x * m + v))

        best = minimize(negative_log_likelihood, np.zeros(3), method="Nelder-Mead", options={"maxiter": 4000})
        p, q, v = np.exp(best.x)
        return cls(p=p, q=q, v=v * scale)

    def expected_order_value(self, frequency: np.ndarray, monetary: np.ndarray) -> np.ndarray:
        """E[order value | history]: shrinks each customer's mean towards the population's."""
        x, mx = np.asarray(frequency, dtype="float64"), np.nan_to_num(np.asarray(monetary, dtype="float64"))
        population = self.p * self.v / (self.q - 1) if self.q > 1 else np.nan
        conditional = (self.p * (self.v + x * mx)) / (self.p * x + self.q - 1)
        return np.where(x > 0, conditional, population)


def rfm_inputs(frame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(frequency, recency, T, monetary) in the BG/NBD convention from customer_features rows."""
    orders = frame["frequency"].to_numpy("float64")
    T = np.nan_to_num(frame["days_since_first_order"].to_numpy("float64"))
    last = np.nan_to_num(frame["recency_days"].to_numpy("float64"))
    frequency = np.maximum(orders - 1, 0)
    recency = np.where(orders > 1, T - last, 0.0)
    return frequency, recency, T, frame["avg_order_value"].to_numpy("float64")
