"""The probabilistic CLV baselines (pymc-marketing) on the data they were published on."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.clv import expected_order_value, expected_purchases, fit_beta_geo, fit_gamma_gamma

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
