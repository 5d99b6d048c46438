"""The probabilistic CLV baselines (ml/models/clv.py) on the data they were published on."""

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad

from ml.models import clv
from ml.models.clv import BetaGeo, GammaGamma, ParetoNbd, clv_features, log_power_tail, purchase_history

LIFETIMES_DATA = Path(importlib.util.find_spec("lifetimes").submodule_search_locations[0]) / "datasets"
# Maximum-likelihood estimates on the CDNOW cohort (weeks): Fader, Hardie & Lee (2005) for BG/NBD,
# Fader & Hardie (2005), "A Note on Deriving the Pareto/NBD Model and Related Expressions", for Pareto/NBD.
CDNOW_BGNBD = BetaGeo(0.243, 4.414, 0.793, 2.426)
CDNOW_PARETO = ParetoNbd(0.553, 10.578, 0.606, 11.669)
# A few CDNOW-like histories (weeks): one-off, the cohort's first customer, gone quiet, busy, new.
HISTORIES = pd.DataFrame({"frequency": [0, 2, 5, 10, 1], "recency": [0, 30.43, 10, 37, 2],
                          "T": [38.86, 38.86, 38, 38, 38]})


def cdnow_summary() -> pd.DataFrame:
    return pd.read_csv(LIFETIMES_DATA / "cdnow_customers_summary.csv").rename(columns={"ID": "customer_id"})


def test_bgnbd_matches_fader_hardie_lee_on_cdnow():
    # The CDNOW cohort (weeks) of Fader, Hardie & Lee (2005): r=0.243, alpha=4.414, a=0.793, b=2.426
    # by maximum likelihood; the weak priors move them by less than 1%.
    summary = cdnow_summary()
    model = BetaGeo.fit(summary)
    assert model.r == pytest.approx(0.243, rel=0.01) and model.alpha == pytest.approx(4.414, rel=0.01)
    assert model.a == pytest.approx(0.793, rel=0.01) and model.b == pytest.approx(2.426, rel=0.01)
    # The paper's log-likelihood at its estimates: -9582.4.
    x, t_x, T = (summary[c].to_numpy("float64") for c in ("frequency", "recency", "T"))
    assert BetaGeo(0.243, 4.414, 0.793, 2.426).log_likelihood(x, t_x, T).sum() == pytest.approx(-9582.4, abs=1)
    expected = model.expected_purchases(summary, 39)
    # The 39-week holdout of the paper: 1,788 repeat purchases by this cohort.
    assert expected.sum() == pytest.approx(1788, rel=0.1)
    assert expected[0] > expected[1] > 0


def bgnbd_posterior(model: BetaGeo, x: float, t_x: float, T: float, draws: int = 200_000, seed: int = 0):
    """Draws of a customer's purchase rate, each with its importance weight for the posterior given
    the history and its part of that weight from histories still alive at T, from BG/NBD's
    individual-level likelihood alone (none of the closed forms under test)."""
    rng = np.random.default_rng(seed)
    # The rate from Gamma(r + x, alpha + t_x), with a heavier tail than the posterior's, so that the
    # weights prior / proposal * likelihood stay bounded; the dropout chance from its Beta prior.
    rate = rng.gamma(model.r + x, 1 / (model.alpha + t_x), draws)
    dropout = rng.beta(model.a, model.b, draws)
    alive = (1 - dropout) ** x * np.exp(-rate * (T - t_x))
    left = dropout * (1 - dropout) ** (x - 1) if x > 0 else 0.0
    return rate, alive, alive + left


def test_bgnbd_probability_order_within_matches_a_simulated_posterior():
    for i, (x, t_x, T) in enumerate(zip(*purchase_history(HISTORIES), strict=True)):
        rate, alive, weight = bgnbd_posterior(CDNOW_BGNBD, x, t_x, T, seed=i)
        for days in (1, 13, 39):
            simulated = np.sum(alive * -np.expm1(-rate * days)) / np.sum(weight)
            assert CDNOW_BGNBD.probability_order_within(HISTORIES, days)[i] == pytest.approx(simulated, abs=0.005)
    every_day = CDNOW_BGNBD.probability_order_within(HISTORIES, np.arange(0.0, 100.0)[:, None])
    assert (every_day[0] == 0).all() and (np.diff(every_day, axis=0) > 0).all()
    assert (every_day < CDNOW_BGNBD.probability_alive(HISTORIES)).all()


def test_bgnbd_days_to_next_order_matches_a_simulated_posterior():
    horizon, quantiles = 13.0, np.array([[0.1], [0.5], [0.9]])
    within = CDNOW_BGNBD.days_to_next_order(HISTORIES, quantiles, within=horizon)
    anytime = CDNOW_BGNBD.days_to_next_order(HISTORIES, quantiles)
    assert ((within > 0) & (within <= horizon) & (within < anytime)).all()
    for i, (x, t_x, T) in enumerate(zip(*purchase_history(HISTORIES), strict=True)):
        rate, alive, _ = bgnbd_posterior(CDNOW_BGNBD, x, t_x, T, seed=i)
        for quantile, by_then, by_then_within in zip(quantiles[:, 0], anytime[:, i], within[:, i], strict=True):
            # Given alive the wait is Exponential(rate): the share of (alive-weighted) draws ordering by
            # the quantile is the quantile, among all or among those ordering within the horizon.
            assert np.sum(alive * -np.expm1(-rate * by_then)) / np.sum(alive) == pytest.approx(quantile, abs=0.005)
            assert (np.sum(alive * -np.expm1(-rate * by_then_within)) / np.sum(alive * -np.expm1(-rate * horizon))
                    == pytest.approx(quantile, abs=0.005))
    # Busier customers (more purchases in as long) are expected back sooner.
    assert (anytime[:, 3] < anytime[:, 1]).all() and (anytime[:, 1] < anytime[:, 0]).all()


def test_pareto_nbd_matches_fader_hardie_on_cdnow(monkeypatch):
    summary = cdnow_summary()
    x, t_x, T = purchase_history(summary)
    # The note's log-likelihood at its estimates: -9595.0.
    assert CDNOW_PARETO.log_likelihood(x, t_x, T).sum() == pytest.approx(-9595.0, abs=1)
    model = ParetoNbd.fit(summary)
    # The weak priors move r and alpha by under 0.5%, but s and beta by 3.5% and 6% (to 0.585 and
    # 10.95): 39 weeks say little about dropout, the likelihood is nearly flat in s and beta together
    # (0.007 lower there than at its maximum), and a prior that barely moves BG/NBD moves them.
    assert (model.r, model.alpha) == pytest.approx((0.553, 10.578), rel=0.01)
    assert (model.s, model.beta) == pytest.approx((0.606, 11.669), rel=0.08)
    assert model.log_likelihood(x, t_x, T).sum() == pytest.approx(-9595.0, abs=0.05)
    monkeypatch.setattr(clv, "PRIOR_SD", 1e6)  # no prior to speak of: the maximum-likelihood fit
    unpenalised = ParetoNbd.fit(summary)
    assert (unpenalised.r, unpenalised.alpha, unpenalised.s, unpenalised.beta) == pytest.approx(
        (0.553, 10.578, 0.606, 11.669), rel=0.01)


def test_pareto_nbd_matches_lifetimes_conditional_formulas():
    with warnings.catch_warnings():  # lifetimes 0.11 sets a pandas option that pandas 3 deprecates
        warnings.simplefilter("ignore")
        from lifetimes import ParetoNBDFitter
    summary = cdnow_summary()
    x, t_x, T = purchase_history(summary)
    fitter = ParetoNBDFitter()
    fitter.params_ = pd.Series({"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669})
    np.testing.assert_allclose(CDNOW_PARETO.probability_alive(summary),
                               fitter.conditional_probability_alive(x, t_x, T), rtol=1e-9)
    np.testing.assert_allclose(CDNOW_PARETO.expected_purchases(summary, 39),
                               fitter.conditional_expected_number_of_purchases_up_to_time(39, x, t_x, T), rtol=1e-9)
    # Fader & Hardie's conditional PMF (note 028) at zero purchases, computed another way.
    np.testing.assert_allclose(CDNOW_PARETO.probability_no_purchase(summary, 39),
                               fitter.conditional_probability_of_n_purchases_up_to_time(0, 39, x, t_x, T), rtol=1e-9)
    # The 39-week holdout: 1,788 repeat purchases by this cohort (this forecasts 1,677).
    assert CDNOW_PARETO.expected_purchases(summary, 39).sum() == pytest.approx(1788, rel=0.1)


def pareto_posterior(model: ParetoNbd, x: float, t_x: float, T: float, draws: int = 200_000, seed: int = 0):
    """Draws of a customer's purchase and dropout rates, each with its importance weight for the
    posterior given the history and its part of that weight from lifetimes lasting past T, from
    Pareto/NBD's individual-level likelihood alone (none of the closed forms under test)."""
    rng = np.random.default_rng(seed)
    # Proposals Gamma(r + x, alpha + t_x) and Gamma(s, beta + t_x) have heavier tails than the
    # posterior's, and prior / proposal * likelihood reduces to a bounded weight.
    rate = rng.gamma(model.r + x, 1 / (model.alpha + t_x), draws)
    dropout = rng.gamma(model.s, 1 / (model.beta + t_x), draws)
    alive = np.exp(-(rate + dropout) * (T - t_x))
    return rate, dropout, alive, alive + dropout / (rate + dropout) * (1 - alive)


def test_pareto_nbd_forecasts_match_a_simulated_posterior():
    days = np.array([0.0, 1, 13, 39, 200])
    no_purchase = CDNOW_PARETO.probability_no_purchase(HISTORIES, days[:, None])
    p_alive = CDNOW_PARETO.probability_alive(HISTORIES)
    for i, (x, t_x, T) in enumerate(zip(*purchase_history(HISTORIES), strict=True)):
        rate, dropout, alive, weight = pareto_posterior(CDNOW_PARETO, x, t_x, T, seed=i)
        assert p_alive[i] == pytest.approx(np.sum(alive) / np.sum(weight), abs=0.005)
        for j, t in enumerate(days):
            # Alive at T, the customer buys before leaving and within t with probability
            # rate / (rate + dropout) * (1 - e^-(rate + dropout) t).
            buys = rate / (rate + dropout) * -np.expm1(-(rate + dropout) * t)
            assert no_purchase[j, i] == pytest.approx(1 - np.sum(alive * buys) / np.sum(weight), abs=0.005)
        expected = np.sum(alive * rate * -np.expm1(-dropout * 39) / dropout) / np.sum(weight)
        assert CDNOW_PARETO.expected_purchases(HISTORIES, 39)[i] == pytest.approx(expected, rel=0.02)
    assert (no_purchase[0] == 1).all() and (np.diff(no_purchase, axis=0) < 0).all()
    assert (no_purchase[-1] > 1 - p_alive).all()


def simulated_pareto_shop(model: ParetoNbd, customers: int, horizon: float, seed: int = 0):
    """A shop that follows Pareto/NBD exactly (days): each customer's history up to their T and how
    many purchases they make in the `horizon` days after it."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(model.r, 1 / model.alpha, customers)
    lifetime = rng.exponential(1 / rng.gamma(model.s, 1 / model.beta, customers))
    T = rng.uniform(1, 365, customers)
    active = np.minimum(lifetime, T)
    x = rng.poisson(rate * active)
    t_x = np.where(x > 0, active * rng.beta(np.maximum(x, 1), 1), 0.0)  # the last of x uniform times
    future = rng.poisson(rate * np.clip(lifetime - T, 0, horizon))
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": T}), future


@pytest.mark.parametrize("model", [ParetoNbd(0.55, 74.0, 0.6, 82.0), ParetoNbd(0.5, 10.0, 0.8, 400.0)],
                         ids=["cdnow-like", "buyers-far-faster-than-leavers"])
def test_pareto_nbd_forecasts_are_calibrated_on_a_simulated_shop(model):
    # The second shop's alpha and beta are 40 times apart: for its newest customers the integrals
    # lie where scipy's hyp2f1 fails, and log_power_tail sums them by quadrature.
    summary, future = simulated_pareto_shop(model, 50_000, horizon=90)
    no_purchase = model.probability_no_purchase(summary, 90)
    for group in (summary["frequency"] == 0, summary["frequency"] > 0, summary["T"] < 30):
        # Within four standard errors of the share that did not buy.
        assert no_purchase[group].mean() == pytest.approx((future[group] == 0).mean(), abs=4 * np.sqrt(0.25 / group.sum()))
    assert model.expected_purchases(summary, 90).sum() == pytest.approx(future.sum(), rel=0.05)


@pytest.mark.parametrize(("a", "p", "b", "q", "y"), [
    (10.6, 0.55, 11.7, 1.6, 0.0), (10.6, 0.55, 11.7, 1.6, 38.9),  # CDNOW's x = 0
    (74.0, 300.6, 82.0, 1.6, 5.0),  # hundreds of purchases
    (400.0, 1.6, 10.0, 2.0, 3.0), (400.0, 1.6, 10.0, 2.0, 40.0),  # z near 1, and below the switch
    (252.4, 859.1, 1.37, 1.0, 0.02), (5000.0, 0.8, 2.0, 3.5, 0.0),  # a whole q; z = 0.9996
    (1e-3, 40.0, 80.0, 1.6, 0.5),  # a < b: the roles swap (z = 0.994)
])
def test_log_power_tail_matches_numerical_integration(a, p, b, q, y):
    """Both ways log_power_tail sums, on either side of HYP2F1_SAFE_Z, and across it."""
    def log_integrand(v):
        return -p * np.log(a + v) - q * np.log(b + v)

    # Scaled by the integrand at y, which underflows for hundreds of purchases.
    scaled, _ = quad(lambda v: np.exp(log_integrand(v) - log_integrand(y)), y, np.inf, epsabs=0, epsrel=1e-12,
                     limit=500)
    assert log_power_tail(np.array([y]), a, p, b, q)[0] == pytest.approx(log_integrand(y) + np.log(scaled), abs=1e-8)


def test_gamma_gamma_matches_fader_hardie_on_cdnow():
    # Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value", on the CDNOW cohort's
    # repeat buyers: p=6.25, q=3.74, v=15.44 by maximum likelihood.
    summary = pd.read_csv(LIFETIMES_DATA / "cdnow_customers_summary_with_transactions.csv")
    summary = summary.rename(columns={"ID": "customer_id", "x": "frequency", "zbar": "monetary_value"})
    model = GammaGamma.fit(summary)
    assert (model.p, model.q, model.v) == pytest.approx((6.25, 3.74, 15.44), rel=0.02)


def test_gamma_gamma_shrinks_towards_the_population_mean():
    rng = np.random.default_rng(0)
    summary = pd.DataFrame({"customer_id": np.arange(2000), "frequency": rng.integers(1, 10, 2000),
                            "monetary_value": rng.gamma(5, 10, 2000)})
    model = GammaGamma.fit(summary)
    probe = pd.DataFrame({"customer_id": [0, 1], "frequency": [1, 50], "monetary_value": [500.0, 500.0]})
    estimate = model.expected_order_value(probe)
    assert summary["monetary_value"].mean() < estimate[0] < estimate[1] < 500


def cdnow_rows(as_of: str) -> pd.DataFrame:
    """The CDNOW cohort's summary (weeks) as customer_features rows (days) of one as-of date."""
    summary = pd.read_csv(LIFETIMES_DATA / "cdnow_customers_summary.csv").head(600)
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "customer_id": summary["ID"].astype(str), "as_of": pd.Timestamp(as_of),
        "frequency": summary["frequency"] + 1, "days_since_first_order": summary["T"] * 7,
        "recency_days": (summary["T"] - summary["recency"]) * 7, "avg_order_value": rng.gamma(5, 8, len(summary)),
    })


@pytest.mark.slow
def test_clv_features_at_a_date_use_that_dates_rows_only():
    early, late = cdnow_rows("1997-06-01"), cdnow_rows("1997-09-01")
    browser = early.head(1).assign(customer_id="browser", frequency=0, days_since_first_order=np.nan,
                                   recency_days=np.nan, avg_order_value=np.nan)
    frame = pd.concat([early, browser, late], ignore_index=True)
    features = clv_features(frame, horizon_days=90)

    changed = frame.copy()
    later = changed["as_of"] == pd.Timestamp("1997-09-01")
    changed.loc[later, "frequency"] *= 3  # what happens after the early date...
    changed["churned"], changed["future_orders"] = True, 99  # ...and any label must not matter
    again = clv_features(changed, horizon_days=90)

    first = frame["as_of"] == pd.Timestamp("1997-06-01")
    pd.testing.assert_frame_equal(features[first], again[first])
    assert not np.allclose(features.loc[later, "bgnbd_expected_orders"], again.loc[later, "bgnbd_expected_orders"])
    buyers = features[frame["frequency"] > 0]
    assert buyers["bgnbd_p_alive"].between(0, 1).all() and (buyers["bgnbd_expected_orders"] > 0).all()
    assert (buyers["gg_expected_order_value"] > 0).all()
    assert features.loc[frame["customer_id"] == "browser"].isna().all(axis=None)


def test_clv_features_do_not_depend_on_the_order_of_the_rows():
    """The warehouse returns rows in no fixed order; the same rows must give the same features,
    to the bit, or a rerun scores a customer near a tree's split differently."""
    frame = cdnow_rows("1997-06-01")
    shuffled = frame.sample(frac=1, random_state=3)
    pd.testing.assert_frame_equal(clv_features(shuffled, horizon_days=90).loc[frame.index],
                                  clv_features(frame, horizon_days=90), check_exact=True)


def test_clv_features_do_not_depend_on_the_last_bit_of_an_order_value():
    """The warehouse's parallel sums leave the last bit of a mean order value to chance (two runs
    of a day gave different ones); Gamma-Gamma's optimum must not move with it."""
    frame = cdnow_rows("1997-06-01").assign(avg_order_value=lambda f: f["avg_order_value"].round(2))
    for direction in (np.inf, -np.inf):
        nudged = frame.assign(avg_order_value=np.nextafter(frame["avg_order_value"].to_numpy(), direction))
        pd.testing.assert_frame_equal(clv_features(nudged, horizon_days=90), clv_features(frame, horizon_days=90),
                                      check_exact=True)
