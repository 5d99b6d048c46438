"""The champion gates' rules, without MLflow: the customer models' sanity checks and ranking,
and the review classifier's macro-F1 tolerance."""

from ml.training import review_classifier
from ml.training.registry import MAX_CALIBRATION_ERROR, beats, best, calibration_bound, judge, sanity_problem

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


def test_the_customer_gate_promotes_the_first_candidate_and_a_better_one_and_says_why():
    champion = {"roc_auc": 0.77, "orders_poisson_deviance": 1.10}
    assert judge(GOOD, None) == (True, "best candidate (ROC-AUC 0.8000, orders deviance 1.0000); first champion")
    promoted, reason = judge(GOOD, champion)
    assert promoted and "beats the champion (ROC-AUC 0.7700, orders deviance 1.1000)" in reason
    promoted, reason = judge(GOOD, champion, margin=0.05)
    assert not promoted and "does not beat the champion" in reason


def test_the_review_gate_keeps_the_champion_only_when_its_macro_f1_is_higher_by_more_than_the_tolerance():
    tolerance = review_classifier.F1_TOLERANCE
    assert review_classifier.judge(0.5, None, has_champion=False) == (True, "first classifier")
    assert review_classifier.judge(None, None, has_champion=True)[0]  # no later reviews: the newest knows most
    assert review_classifier.judge(0.80, 0.80 + tolerance / 2, has_champion=True)[0]
    assert review_classifier.judge(0.85, 0.80, has_champion=True) == (True, "macro-F1 0.850 on later reviews, champion's 0.800")
    kept = review_classifier.judge(0.80, 0.80 + 2 * tolerance, has_champion=True)
    assert kept == (False, "macro-F1 0.800 on later reviews, below the champion's 0.820")
