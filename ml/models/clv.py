"""BG/NBD, Pareto/NBD and Gamma-Gamma, the standard probabilistic models of repeat purchases
and spend, fitted by maximising their closed-form likelihoods (Fader, Hardie & Lee 2005;
Schmittlein, Morrison & Colombo 1987 as written out by Fader & Hardie 2005; Fader & Hardie
2013) with scipy.

Each likelihood is a few log-gamma terms per customer (and, for Pareto/NBD, one integral that
is a Gauss hypergeometric function), so a fit is a four- or three-parameter optimisation over
vectorised numpy, with none of the graph compiling that pymc-marketing's MAP fits paid in every
process (docs/decisions/0002-bgnbd-fitted-with-scipy.md). The parameters carry weak log-normal
priors (log-parameter ~ Normal(0, 3)), which change nothing on thousands of buyers and keep a
fit on a handful of them finite. Fits use at most FIT_SAMPLE buyers (a seeded sample): four
parameters are pinned down long before that, and the fit's cost then stays flat however many
customers are scored.

Inputs use the usual convention, all in days: `frequency` = repeat purchases (orders - 1),
`recency` = time from first to last purchase, `T` = time from first purchase to the cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, exprel, gammaln, hyp2f1

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
        # Mean order value; Gamma-Gamma reads it for repeat customers only. Rounded to a millionth:
        # the warehouse's parallel sums leave its last bit to chance, and that bit moves
        # Gamma-Gamma's optimum enough to flip a tree's split for some customer between two runs
        # of the same day.
        "monetary_value": np.where(orders > 1, np.round(np.nan_to_num(frame["avg_order_value"].to_numpy("float64")), 6),
                                   0.0),
    })


def maximise(negative_log_likelihood, start: np.ndarray) -> np.ndarray:
    """The parameters (positive) that maximise the likelihood under the weak priors."""
    def objective(log_params: np.ndarray) -> float:
        return negative_log_likelihood(np.exp(log_params)) + float(np.sum(log_params ** 2)) / (2 * PRIOR_SD ** 2)

    found = minimize(objective, np.log(start), method="L-BFGS-B", bounds=[(-12.0, 12.0)] * len(start))
    return np.exp(found.x)


def fit_sample(summary: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    return summary.sample(FIT_SAMPLE, random_state=seed) if len(summary) > FIT_SAMPLE else summary


def fit_purchase_model(cls, summary: pd.DataFrame, start_rates: tuple[float, ...]):
    """A purchase model (BetaGeo, ParetoNbd: four positive parameters and a `log_likelihood` of
    x, t_x, T) fitted on a seeded sample of `summary`. `start_rates` are the parameters to start
    from, in units of mean(T) where a parameter is a time scale (NaN marks those)."""
    x, t_x, T = purchase_history(fit_sample(summary))
    scale = max(float(T.mean()), 1.0)

    def negative_log_likelihood(params: np.ndarray) -> float:
        return -float(np.sum(cls(*params).log_likelihood(x, t_x, T)))

    start = np.array([scale if np.isnan(rate) else rate for rate in start_rates])
    return cls(*maximise(negative_log_likelihood, start))


def purchase_history(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x (repeat purchases), t_x (recency) and T of each customer of a summary frame."""
    x, t_x, T = (summary[c].to_numpy("float64") for c in ("frequency", "recency", "T"))
    return x, t_x, T


def log_difference(larger: np.ndarray, smaller: np.ndarray) -> np.ndarray:
    """log(exp(larger) - exp(smaller)) without leaving log space: -inf where they are equal, or
    where rounding put `smaller` a hair above `larger`."""
    with np.errstate(divide="ignore"):
        return larger + np.log(-np.expm1(np.minimum(smaller - larger, 0.0)))


# scipy's hyp2f1(1, p; p + q; z) sums its power series up to this z, exact to rounding; above it, it
# switches to transformations that go wrong (NaN, infinite or off by orders of magnitude) once p
# counts hundreds of purchases or q is a whole number. Past it log_power_tail sums by quadrature.
HYP2F1_SAFE_Z = 0.9
# That quadrature: Gauss-Legendre nodes on [-1, 1], over a stretch where the integrand's log falls
# by at most about 2 * QUADRATURE_SPAN; 48 nodes then agree with 2,048 to 1e-10 relative. Rows are
# summed QUADRATURE_ROWS customers at a time, so that memory stays a few MB however many there are.
QUADRATURE_NODES, QUADRATURE_WEIGHTS = np.polynomial.legendre.leggauss(48)
QUADRATURE_SPAN = 36.0
QUADRATURE_ROWS = 8192


def log_power_tail(y: np.ndarray | float, a: float, p: np.ndarray | float, b: float,
                   q: np.ndarray | float) -> np.ndarray:
    """log of the integral over v from y to infinity of (a + v)^-p (b + v)^-q, for a, b > 0 and
    p + q > 1: Pareto/NBD's likelihood and forecasts are differences of it (Gamma-mixed purchase
    rates give the (a + v)^-p, Gamma-mixed dropout rates the (b + v)^-q).

    With a >= b (the integral is symmetric in (a, p) and (b, q)) it is
    (a+y)^-p (b+y)^(1-q) 2F1(1, p; p+q; z) / (p+q-1), z = (a-b)/(a+y): the 2F1 lies in
    [1, 1/(1-z)], so the result stays finite however many purchases p counts and however large y
    is (Fader & Hardie's A0 writes it as 2F1(p+q-1, q; p+q; z) / (a+y)^(p+q-1), the same by
    Euler's transformation). Where z > HYP2F1_SAFE_Z (a far above b, y small), the integral from
    y up to the point where z falls to HYP2F1_SAFE_Z is summed by quadrature instead.
    """
    if a < b:
        a, p, b, q = b, q, a, p
    y, p, q = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, "float64")) for v in (y, p, q)))
    y_safe = np.maximum(y, (a - b) / HYP2F1_SAFE_Z - a)  # the y at which z is HYP2F1_SAFE_Z, or y itself
    z = np.minimum((a - b) / (a + y_safe), HYP2F1_SAFE_Z)  # not a rounding error above it
    log_tail = (-p * np.log(a + y_safe) + (1 - q) * np.log(b + y_safe) - np.log(p + q - 1)
                + np.log(hyp2f1(1.0, p, p + q, z)))
    near = np.flatnonzero(y < y_safe)
    for first in range(0, len(near), QUADRATURE_ROWS):
        rows = near[first:first + QUADRATURE_ROWS]
        stretch = _log_power_stretch((b + y[rows]) / (a + y[rows]), a - b, p[rows], q[rows])
        log_tail[rows] = np.logaddexp(log_tail[rows], stretch)
    return log_tail


def _log_power_stretch(w0: np.ndarray, gap: float, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """log_power_tail's integral from y to where z = HYP2F1_SAFE_Z, for a - b = gap and
    w0 = (b+y)/(a+y) < 1 - HYP2F1_SAFE_Z.

    With w = (b+v)/(a+v) it is gap^(1-p-q) times the integral of w^-q (1-w)^m, m = p+q-2, from w0 to
    1 - HYP2F1_SAFE_Z, summed in log w, where w^-q's power law is smooth. The integrand falls from
    w0 on (both factors shrink, or (1-w)^m grows by at most 1/0.9), so the sum stops where it has
    fallen by e^-QUADRATURE_SPAN: m (w - w0) = SPAN, or (w/w0)^(1-q) = e^-SPAN. That keeps a
    steep (1-w)^m, from thousands of purchases, from needing more nodes.
    """
    m = p + q - 2
    start = np.log(w0)
    with np.errstate(divide="ignore"):
        end = np.minimum.reduce([np.full_like(w0, np.log(1 - HYP2F1_SAFE_Z)),
                                 np.log(w0 + QUADRATURE_SPAN / np.where(m > 0, m, 0.0)),
                                 start + np.where(q > 1, QUADRATURE_SPAN / (q - 1), np.inf)])
    half = (end - start) / 2
    log_w = start[:, None] + half[:, None] * (1 + QUADRATURE_NODES)
    log_integrand = (1 - q[:, None]) * log_w + m[:, None] * np.log1p(-np.exp(log_w))
    peak = log_integrand.max(axis=1)
    # A row sum, not a matrix product: BLAS would round a customer's sum differently with the
    # number of others beside it.
    weighted = (np.exp(log_integrand - peak[:, None]) * QUADRATURE_WEIGHTS).sum(axis=1)
    return (1 - p - q) * np.log(gap) + np.log(half) + peak + np.log(weighted)


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
        return fit_purchase_model(cls, summary, (1.0, np.nan, 1.0, 1.0))

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
        return 1.0 / (1.0 + self._odds_gone(*purchase_history(summary)))

    def expected_purchases(self, summary: pd.DataFrame, days: float) -> np.ndarray:
        """E[purchases in the next `days` | history] (Fader, Hardie & Lee 2005, eq. 10)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        x, t_x, T = purchase_history(summary)
        z = days / (alpha + T + days)
        decay = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + days)))
        alive_part = (a + b + x - 1) / (a - 1) * (1 - decay * hyp2f1(r + x, b + x, a + b + x - 1, z))
        return alive_part / (1.0 + self._odds_gone(x, t_x, T))

    # Next-order timing. A BG/NBD customer can leave only right after a purchase, so one alive at T
    # stays alive until their next purchase, which comes after an Exponential(lambda) wait, with
    # lambda's posterior given alive Gamma(r + x, alpha + T): the wait is Lomax-distributed, with
    # P(wait > t | alive) = ((alpha + T) / (alpha + T + t))^(r + x), and both answers are closed forms.

    def _log_wait_survival(self, x: np.ndarray, T: np.ndarray, days: float | np.ndarray) -> np.ndarray:
        """log P(no purchase within `days` | alive, history)."""
        return -(self.r + x) * np.log1p(days / (self.alpha + T))

    def probability_order_within(self, summary: pd.DataFrame, days: float | np.ndarray) -> np.ndarray:
        """P(at least one purchase in the next `days` | history): P(alive) times P(wait <= days | alive)
        (a customer who has left never buys again)."""
        x, t_x, T = purchase_history(summary)
        return -np.expm1(self._log_wait_survival(x, T, days)) / (1.0 + self._odds_gone(x, t_x, T))

    def days_to_next_order(self, summary: pd.DataFrame, quantile: float | np.ndarray = 0.5,
                           within: float | None = None) -> np.ndarray:
        """The `quantile` of the wait for the next purchase of a customer alive now; with `within`,
        of that wait given that the purchase comes within `within` days, so always in (0, within].

        It is conditional on alive because a customer who has left waits forever: the unconditional
        median would be infinite for everyone with P(alive) < 1/2. probability_order_within says how
        likely the order is at all; this says when it comes if it does.
        """
        x, _, T = purchase_history(summary)
        # reach = P(wait <= within | alive). Given the horizon the wait's CDF is F(t) / reach, so its
        # quantile is the t with F(t) = quantile * reach: survival 1 - quantile * reach, inverted.
        reach = 1.0 if within is None else -np.expm1(self._log_wait_survival(x, T, within))
        log_survival = np.log1p(-quantile * reach)
        return (self.alpha + T) * np.expm1(-log_survival / (self.r + x))


@dataclass(frozen=True)
class ParetoNbd:
    """Pareto/NBD (Schmittlein, Morrison & Colombo 1987): purchases at a Gamma(r, alpha)-distributed
    rate lambda while alive, and an Exponential lifetime with a Gamma(s, beta)-distributed rate mu.
    Unlike BG/NBD's, the lifetime can end at any moment, not only right after a purchase.

    Given a history (x, t_x, T) and alive at T, lambda ~ Gamma(r + x, alpha + T) and
    mu ~ Gamma(s, beta + T) independently (both as shape, rate); the forecasts mix over those, and
    each is a closed form in log_power_tail's integral.
    """

    r: float
    alpha: float
    s: float
    beta: float

    @classmethod
    def fit(cls, summary: pd.DataFrame) -> ParetoNbd:
        # Start with mean purchase and dropout rates (r / alpha, s / beta) both 1 / mean(T).
        return fit_purchase_model(cls, summary, (1.0, np.nan, 1.0, np.nan))

    def _log_alive_and_gone(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The two parts of the likelihood, less their common factor Gamma(r+x) alpha^r beta^s / Gamma(r):
        alive at T, (alpha+T)^-(r+x) (beta+T)^-s, and left at some moment v in (t_x, T],
        s times the integral of (alpha+v)^-(r+x) (beta+v)^-(s+1) (Fader & Hardie's s/(r+s+x) A0)."""
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        gone = np.log(s) + log_difference(log_power_tail(t_x, alpha, r + x, beta, s + 1),
                                          log_power_tail(T, alpha, r + x, beta, s + 1))
        return alive, gone

    def log_likelihood(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Each customer's log-likelihood (Fader & Hardie 2005, "A Note on Deriving the Pareto/NBD
        Model and Related Expressions", eq. 18), in log space throughout."""
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        alive, gone = self._log_alive_and_gone(x, t_x, T)
        return gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta) + np.logaddexp(alive, gone)

    def probability_alive(self, summary: pd.DataFrame) -> np.ndarray:
        alive, gone = self._log_alive_and_gone(*purchase_history(summary))
        return expit(alive - gone)

    def expected_purchases(self, summary: pd.DataFrame, days: float | np.ndarray) -> np.ndarray:
        """E[purchases in the next `days` | history] (Fader & Hardie 2005, eq. 41): P(alive) times
        E[lambda] = (r+x)/(alpha+T) times the expected time alive within `days`,
        (beta+T)/(s-1) (1 - ((beta+T)/(beta+T+days))^(s-1)), written with exprel so that s = 1
        is no special case."""
        x, _, T = purchase_history(summary)
        horizon = np.log1p(days / (self.beta + T))
        time_alive = (self.beta + T) * horizon * exprel(-(self.s - 1) * horizon)
        return self.probability_alive(summary) * (self.r + x) / (self.alpha + T) * time_alive

    def probability_no_purchase(self, summary: pd.DataFrame, days: float | np.ndarray) -> np.ndarray:
        """P(no purchase in the next `days` | history): 1 - P(alive) P(buys within `days` | alive).

        Alive with rates (lambda, mu), a customer buys before leaving and within t with probability
        the integral over v in (0, t] of lambda e^-(lambda+mu)v. Mixed over (lambda, mu)'s posterior
        given alive, that is (r+x) (alpha+T)^(r+x) (beta+T)^s times the integral over v in (T, T+t]
        of (alpha+v)^-(r+x+1) (beta+v)^-s: one more log_power_tail difference. It is Fader & Hardie's
        conditional PMF ("Deriving the Conditional PMF of the Pareto/NBD Model") at n = 0,
        rearranged: a closed form, so a million customers take four vectorised hyp2f1 calls rather
        than a quadrature over (lambda, mu) for each.
        """
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        x, _, T = purchase_history(summary)
        log_buys = (np.log(r + x) + (r + x) * np.log(alpha + T) + s * np.log(beta + T)
                    + log_difference(log_power_tail(T, alpha, r + x + 1, beta, s),
                                     log_power_tail(T + days, alpha, r + x + 1, beta, s)))
        return 1.0 - self.probability_alive(summary) * np.exp(log_buys)


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
# yet (the models describe buyers only); the models see a was-missing flag for them.
CLV_FEATURES = ("bgnbd_p_alive", "bgnbd_expected_orders", "gg_expected_order_value",
                "pnbd_expected_orders", "pnbd_no_order_probability")
# BG/NBD's next-order timing, published and judged, not model inputs: the median days to the next
# order should it come within the horizon (customer_scores.expected_next_order_date), and
# P(an order within d days) at ORDER_BY_DAYS, checked against what happened.
ORDER_BY_DAYS = (30, 60, 90)
NEXT_ORDER_DAYS = "bgnbd_next_order_days"
TIMING_COLUMNS = (NEXT_ORDER_DAYS,) + tuple(f"bgnbd_order_within_{days}d" for days in ORDER_BY_DAYS)
MIN_BUYERS = 10


def clv_features(frame: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """BG/NBD's P(alive), expected orders over the next `horizon_days` and next-order timing
    (TIMING_COLUMNS), Pareto/NBD's expected orders and P(no order) over them, and Gamma-Gamma's
    expected order value, for each row of `frame` (customer_features rows, any as-of dates).

    The models are fitted separately for each as-of date on that date's rows alone, which
    describe only what happened before it: a feature as of T never sees data from T on, and
    training rows never see their labels. They are fitted on the rows in customer order: the
    warehouse returns rows in no fixed order, and the optimiser's sums (and the sample of a
    large shop) must not depend on it, or a rerun would score some customers differently.
    """
    out = pd.DataFrame(np.nan, index=frame.index, columns=list(CLV_FEATURES + TIMING_COLUMNS))
    for _, rows in frame.groupby("as_of", sort=True):
        buyers = rows[rows["frequency"].to_numpy("float64") > 0].sort_values("customer_id", kind="stable")
        summary = rfm_inputs(buyers)
        if len(buyers) < MIN_BUYERS or (summary["frequency"] > 0).sum() < MIN_BUYERS:
            continue  # too little history at this date to fit anything
        beta_geo, pareto = BetaGeo.fit(summary), ParetoNbd.fit(summary)
        out.loc[buyers.index, "bgnbd_p_alive"] = beta_geo.probability_alive(summary)
        out.loc[buyers.index, "bgnbd_expected_orders"] = beta_geo.expected_purchases(summary, horizon_days)
        out.loc[buyers.index, "gg_expected_order_value"] = GammaGamma.fit(summary).expected_order_value(summary)
        out.loc[buyers.index, "pnbd_expected_orders"] = pareto.expected_purchases(summary, horizon_days)
        out.loc[buyers.index, "pnbd_no_order_probability"] = pareto.probability_no_purchase(summary, horizon_days)
        out.loc[buyers.index, NEXT_ORDER_DAYS] = beta_geo.days_to_next_order(summary, within=horizon_days)
        for days in ORDER_BY_DAYS:
            out.loc[buyers.index, f"bgnbd_order_within_{days}d"] = beta_geo.probability_order_within(summary, days)
    return out


def with_clv_features(frame: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    columns = list(CLV_FEATURES + TIMING_COLUMNS)
    return pd.concat([frame.drop(columns=columns, errors="ignore"), clv_features(frame, horizon_days)], axis=1)
