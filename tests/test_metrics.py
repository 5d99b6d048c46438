"""The holdout metrics the gate and the comparison table read, on cases with known answers."""

import numpy as np
import pytest

from ml.training import metrics as m


def test_churn_metrics_of_a_perfect_and_a_useless_ranking():
    truth = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    perfect = m.churn_metrics(truth, np.linspace(0.05, 0.95, 10))
    assert perfect["roc_auc"] == 1.0 and perfect["pr_auc"] == 1.0
    assert perfect["lift_top10"] == pytest.approx(1 / 0.6)
    constant = m.churn_metrics(truth, np.full(10, 0.6))
    assert constant["roc_auc"] == 0.5 and constant["ece"] == pytest.approx(0.0, abs=1e-12)
    assert m.churn_metrics(np.zeros(5, dtype=int), np.full(5, 0.2))["roc_auc"] != m.churn_metrics(
        np.zeros(5, dtype=int), np.full(5, 0.2))["roc_auc"]  # NaN on a one-class holdout


def test_calibration_error_is_the_gap_between_predicted_and_observed_rates():
    truth = np.array([0] * 50 + [1] * 50)
    assert m.expected_calibration_error(truth, np.full(100, 0.9)) == pytest.approx(0.4)
    assert m.expected_calibration_error(np.zeros(100, dtype=int), np.full(100, 0.9)) == pytest.approx(0.9)


def test_gini_is_one_for_the_true_order_and_minus_one_reversed():
    actual = np.array([0.0, 0.0, 5.0, 10.0, 50.0, 100.0])
    assert m.normalised_gini(actual, actual) == pytest.approx(1.0)
    assert m.normalised_gini(actual, actual * 3 + 1) == pytest.approx(1.0)  # only the order counts
    assert m.normalised_gini(actual, -actual) == pytest.approx(-1.0)


def test_decile_mape_and_aggregate_error_read_the_level_of_the_forecast():
    actual = np.arange(1.0, 101.0)
    assert m.decile_mape(actual, actual) == pytest.approx(0.0)
    assert m.decile_mape(actual, 2 * actual) == pytest.approx(1.0)
    assert m.value_metrics(actual, 1.1 * actual)["spend_aggregate_error"] == pytest.approx(0.1)


def test_order_metrics_score_counts():
    actual = np.array([0.0, 1.0, 2.0, 3.0])
    exact = m.order_metrics(actual, actual)
    assert exact["orders_mae"] == 0 and exact["orders_pearson"] == pytest.approx(1.0)
    assert exact["orders_poisson_deviance"] == pytest.approx(0.0, abs=1e-6)
    flat = m.order_metrics(actual, np.full(4, 1.5))
    assert flat["orders_aggregate_error"] == pytest.approx(0.0) and flat["orders_pearson"] == 0.0
    assert flat["orders_poisson_deviance"] > exact["orders_poisson_deviance"]


def test_tier_macro_f1():
    assert m.tier_metrics(np.array(["low", "high"]), np.array(["low", "high"]))["tier_macro_f1"] == 1.0
    assert m.tier_metrics(np.array(["low", "high"]), np.array(["high", "low"]))["tier_macro_f1"] == 0.0


def test_cumulative_gain_runs_from_nobody_to_every_churner_and_the_plots_draw_the_kept_points():
    rng = np.random.default_rng(3)
    probability = rng.uniform(size=400)
    truth = (rng.uniform(size=400) < probability).astype(int)
    contacted, found = m.gain_points(truth, probability)
    assert len(contacted) == 21 and (contacted[0], found[0]) == (0.0, 0.0) and (contacted[-1], found[-1]) == (1.0, 1.0)
    assert (np.diff(contacted) > 0).all() and (np.diff(found) >= 0).all()
    # A tenth of the customers, riskiest first, hold the top decile's share of the churners.
    top = np.argsort(-probability, kind="stable")[:40]
    assert found[2] == pytest.approx(truth[top].sum() / truth.sum())
    perfect = m.gain_points(truth, truth.astype(float))[1]
    assert perfect[np.searchsorted(contacted, truth.mean())] == pytest.approx(1.0, abs=0.05)
    assert m.gain_points(np.zeros(10, dtype=int), probability[:10])[0].size == 0  # no churner to find

    curves = m.churn_curves(truth, probability)
    predicted, observed = curves["calibration"]
    assert len(predicted) == 10 and (np.diff(predicted) > 0).all()
    assert np.abs(observed - predicted).max() < 0.15  # drawn from the probabilities themselves
    figures = m._plots(truth, probability, np.array(["low", "high"] * 200), np.array(["low", "high"] * 200), curves)
    for name, curve in (("calibration", "calibration"), ("gain", "cumulative_gain")):
        line = figures[name].axes[0].lines[0]
        np.testing.assert_array_equal(line.get_xdata(), curves[curve][0])
        np.testing.assert_array_equal(line.get_ydata(), curves[curve][1])
