"""The champion gates' rules, without MLflow: the customer models' sanity checks, ranking and
noise rule over several holdout cutoffs, and the review classifier's over slices of later reviews;
and the registry's answer when MLflow's server does not answer."""

import pytest

from ml.training import text_classifier
from ml.training.registry import MAX_CALIBRATION_ERROR, best, calibration_bound, compare, judge, sanity_problem

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


def by_cutoff(aucs: list[float], deviances: list[float]) -> dict[str, dict[str, float]]:
    return {f"2025-0{i + 1}-01": {"roc_auc": auc, "orders_poisson_deviance": deviance}
            for i, (auc, deviance) in enumerate(zip(aucs, deviances, strict=True))}


def test_the_noise_is_the_standard_error_of_the_paired_differences_at_least_the_floor():
    versus = compare([0.80, 0.78, 0.82], [0.77, 0.77, 0.77])  # differences 0.03, 0.01, 0.05
    assert versus.difference == pytest.approx(0.03) and versus.noise == pytest.approx(0.02 / 3 ** 0.5)
    assert versus.wins and not versus.loses
    assert compare([0.80], [0.77], floor=0.005).noise == 0.005  # one cutoff: no spread to measure
    assert compare([0.78, 0.78], [0.78, 0.78], floor=0.005).noise == 0.005


def test_a_challenger_replaces_the_champion_only_when_it_wins_by_more_than_the_cutoff_to_cutoff_noise():
    champion = by_cutoff([0.77, 0.75, 0.79], [1.10, 1.10, 1.10])
    # Better by 0.02 on every cutoff: the differences do not spread, the win is clear.
    promoted, reason = judge(by_cutoff([0.79, 0.77, 0.81], [1.5, 1.5, 1.5]), champion)
    assert promoted and "ROC-AUC +0.0200 (noise 0.0050)" in reason and "on 3 cutoff(s)" in reason
    # Better by 0.02 on the mean, but by +0.08 on one cutoff and -0.01 on the two others: noise.
    promoted, reason = judge(by_cutoff([0.85, 0.74, 0.78], [1.5, 1.5, 1.5]), champion)
    assert not promoted and "does not beat" in reason and "noise 0.0300" in reason
    # Tied on ROC-AUC, with fewer expected-order errors on every cutoff: it forecasts better.
    promoted, reason = judge(by_cutoff([0.771, 0.749, 0.790], [1.0, 1.01, 0.99]), champion)
    assert promoted and "forecasts orders better" in reason
    # The promotion margin lowers the challenger's ROC-AUC first.
    assert not judge(by_cutoff([0.79, 0.77, 0.81], [1.5, 1.5, 1.5]), champion, margin=0.03)[0]


def test_the_customer_gate_promotes_the_first_candidate_and_says_why():
    assert judge(by_cutoff([0.8, 0.8], [1.0, 1.0]), None) == (
        True, "best candidate (ROC-AUC 0.8000, orders deviance 1.0000); first champion")


def test_the_review_gate_keeps_the_champion_only_when_its_macro_f1_is_higher_by_more_than_the_noise():
    tolerance = text_classifier.F1_TOLERANCE

    def review_judge(new, champion, has_champion):
        return text_classifier.judge(new, champion, has_champion, noun="reviews")

    assert review_judge([0.5], None, has_champion=False) == (True, "first classifier")
    assert review_judge(None, None, has_champion=True)[0]  # no later reviews: the newest knows most
    assert review_judge([0.80], [0.80 + tolerance / 2], has_champion=True)[0]
    assert review_judge([0.85, 0.85], [0.80, 0.80], has_champion=True) == (
        True, "macro-F1 0.850 on 2 slice(s) of later reviews, champion's 0.800: +0.0500 (noise 0.0100)")
    kept = review_judge([0.80, 0.80, 0.80], [0.82, 0.82, 0.82], has_champion=True)
    assert kept == (False, "macro-F1 0.800 on 3 slice(s) of later reviews, champion's 0.820: -0.0200 (noise 0.0100): "
                           "below the champion's by more than the noise")
    # Worse by 0.02 on the mean, but the slices disagree: within the noise, the newest takes over.
    assert review_judge([0.70, 0.86, 0.84], [0.82, 0.82, 0.82], has_champion=True)[0]


def test_a_tracking_server_that_does_not_answer_is_named_not_taken_for_no_champion(monkeypatch):
    """MLflow's client over real HTTP to a port nothing listens on."""
    import socket

    import mlflow

    from ml.training import registry

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(ConnectionError) as failed:
            registry.champion_version("clm-customer-model")
    finally:
        mlflow.set_tracking_uri(previous)
    assert str(failed.value) == (
        f"MLflow's tracking server at http://127.0.0.1:{port} did not answer (API request to "
        f"http://127.0.0.1:{port}/api/2.0/mlflow/registered-models/alias). "
        "Start it, or point MLFLOW_TRACKING_URI at where it runs.")
