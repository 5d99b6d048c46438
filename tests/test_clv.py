"""The probabilistic CLV baselines (ml/models/clv.py) on the data they were published on."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.models.clv import BetaGeo, GammaGamma, clv_features

LIFETIMES_DATA = Path(importlib.util.find_spec("lifetimes").submodule_search_locations[0]) / "datasets"


def test_bgnbd_matches_fader_hardie_lee_on_cdnow():
    # The CDNOW cohort (weeks) of Fader, Hardie & Lee (2005): r=0.243, alpha=4.414, a=0.793, b=2.426
    # by maximum likelihood; the weak priors move them by less than 1%.
    summary = pd.read_csv(LIFETIMES_DATA / "cdnow_customers_summary.csv").rename(columns={"ID": "customer_id"})
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
