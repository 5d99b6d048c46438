"""The probabilistic CLV baselines reproduce the published fits."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.clv import BetaGeo, GammaGamma

LIFETIMES_DATA = Path(importlib.util.find_spec("lifetimes").submodule_search_locations[0]) / "datasets"


def test_bgnbd_recovers_fader_hardie_lee_parameters_on_cdnow():
    # The CDNOW cohort summary (weeks) of Fader, Hardie & Lee (2005): r=0.243, alpha=4.414, a=0.793, b=2.426.
    summary = pd.read_csv(LIFETIMES_DATA / "cdnow_customers_summary.csv")
    model = BetaGeo.fit(summary["frequency"], summary["recency"], summary["T"])
    assert (model.r, model.alpha, model.a, model.b) == pytest.approx((0.243, 4.414, 0.793, 2.426), abs=2e-3)
    expected = model.expected_purchases(39, summary["frequency"], summary["recency"], summary["T"])
    # A customer with more recent repeat purchases is expected to buy more.
    assert expected[0] > expected[1] > 0
    assert 0.5 < expected.mean() < 2.0


def test_gamma_gamma_shrinks_towards_the_population_mean():
    rng = np.random.default_rng(0)
    frequency = rng.integers(1, 10, 2000)
    monetary = rng.gamma(5, 10, 2000)
    model = GammaGamma.fit(frequency, monetary)
    estimate = model.expected_order_value(np.array([1, 50]), np.array([500.0, 500.0]))
    population = model.p * model.v / (model.q - 1)
    assert population < estimate[0] < estimate[1] < 500
    assert population == pytest.approx(monetary.mean(), rel=0.15)
