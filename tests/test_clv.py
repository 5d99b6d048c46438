"""The probabilistic CLV baselines (pymc-marketing) on the data they were published on."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.clv import clv_features, expected_order_value, expected_purchases, fit_beta_geo, fit_gamma_gamma

LIFETIMES_DATA = Path(importlib.util.find_spec("lifetimes").submodule_search_locations[0]) / "datasets"


def test_bgnbd_matches_fader_hardie_lee_on_cdnow():
    # The CDNOW cohort (weeks) of Fader, Hardie & Lee (2005): r=0.243, alpha=4.414, a=0.793, b=2.426
    # by maximum likelihood; the MAP fit's weak priors pull a and b a little.
    summary = pd.read_csv(LIFETIMES_DATA / "cdnow_customers_summary.csv").rename(columns={"ID": "customer_id"})
    model = fit_beta_geo(summary)
    fitted = model.fit_summary()
    assert fitted["r"] == pytest.approx(0.243, rel=0.05)
    assert fitted["alpha"] == pytest.approx(4.414, rel=0.05)
    assert fitted["a"] == pytest.approx(0.793, rel=0.2) and fitted["b"] == pytest.approx(2.426, rel=0.2)
    expected = expected_purchases(model, summary, 39)
    # The 39-week holdout of the paper: 1,788 repeat purchases by this cohort.
    assert expected.sum() == pytest.approx(1788, rel=0.1)
    assert expected[0] > expected[1] > 0


def test_gamma_gamma_shrinks_towards_the_population_mean():
    rng = np.random.default_rng(0)
    summary = pd.DataFrame({"customer_id": np.arange(2000), "frequency": rng.integers(1, 10, 2000),
                            "monetary_value": rng.gamma(5, 10, 2000)})
    model = fit_gamma_gamma(summary)
    probe = pd.DataFrame({"customer_id": [0, 1], "frequency": [1, 50], "monetary_value": [500.0, 500.0]})
    estimate = expected_order_value(model, probe)
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
