"""The champion gate's sanity checks."""

from ml.registry import MAX_CALIBRATION_ERROR, calibration_bound, sanity_problem


def test_calibration_bound_allows_for_small_holdouts_only():
    assert calibration_bound(50_000) == MAX_CALIBRATION_ERROR
    assert calibration_bound(200) > 0.3
    good = {"roc_auc": 0.8, "brier": 0.1, "ece": 0.2, "mean_probability": 0.5, "spend_spearman": 0.3}
    assert sanity_problem({**good, "holdout_rows": 200}) is None
    assert "calibration error 0.200 above 0.150" in sanity_problem({**good, "holdout_rows": 50_000})
    assert "NaN" in sanity_problem({**good, "roc_auc": float("nan"), "holdout_rows": 200})
    assert "NaN" in sanity_problem({**good, "roc_auc": None, "holdout_rows": 200})  # as it comes through XCom
