"""The champion gate: sanity checks and the rule that picks the best candidate."""

from ml.training.registry import MAX_CALIBRATION_ERROR, beats, best, calibration_bound, sanity_problem

GOOD = {"roc_auc": 0.8, "brier": 0.1, "ece": 0.2, "mean_probability": 0.5, "spend_spearman": 0.3,
        "orders_poisson_deviance": 1.0}


def test_calibration_bound_allows_for_small_holdouts_only():
    assert calibration_bound(50_000) == MAX_CALIBRATION_ERROR
    assert calibration_bound(200) > 0.3
    assert sanity_problem({**GOOD, "holdout_rows": 200}) is None
    assert "calibration error 0.200 above 0.150" in sanity_problem({**GOOD, "holdout_rows": 50_000})
    assert "NaN" in sanity_problem({**GOOD, "roc_auc": float("nan"), "holdout_rows": 200})
    assert "NaN" in sanity_problem({**GOOD, "roc_auc": None, "holdout_rows": 200})  # as it comes through XCom


def test_the_best_ranks_by_roc_auc_and_breaks_near_ties_on_orders_deviance():
    candidates = {"transformer": {"roc_auc": 0.770, "orders_poisson_deviance": 1.30},
                  "lightgbm": {"roc_auc": 0.773, "orders_poisson_deviance": 1.10},
                  "bg_nbd": {"roc_auc": 0.769, "orders_poisson_deviance": 1.05}}
    # All three within 0.005 of the top ROC-AUC: the best forecaster of orders wins.
    assert best(candidates) == "bg_nbd"
    candidates["lightgbm"]["roc_auc"] = 0.80  # now clearly the best ranker
    assert best(candidates) == "lightgbm"
    assert best({}) is None


def test_a_candidate_replaces_the_champion_only_when_better_by_the_same_rule():
    champion = {"roc_auc": 0.77, "orders_poisson_deviance": 1.10}
    assert beats({"roc_auc": 0.79, "orders_poisson_deviance": 1.50}, champion)
    assert beats({"roc_auc": 0.768, "orders_poisson_deviance": 1.00}, champion)
    assert not beats({"roc_auc": 0.772, "orders_poisson_deviance": 1.20}, champion)
    assert not beats({"roc_auc": 0.79, "orders_poisson_deviance": 1.50}, champion, margin=0.03)
