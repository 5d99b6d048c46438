"""Churn reasons: LightGBM attributions turned into sentences, on a shop where recency and bad
reviews drive churn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.actions.reasons import SENTENCES, TOLD_WITH, Explainer, PathAttribution, sentence
from ml.data.feature_schema import churn_risk
from ml.models.baselines import GbmModel
from ml.models.features import NUMERIC_FEATURES, numeric_matrix


def shop(rows: int = 3000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.gamma(2.0, 10.0, (rows, len(NUMERIC_FEATURES))), columns=list(NUMERIC_FEATURES))
    frame["recency_days"] = rng.uniform(1, 300, rows)
    frame["last_review_rating"] = rng.integers(1, 6, rows).astype(float)
    frame.loc[rng.random(rows) < 0.3, "last_review_rating"] = np.nan
    risk = (frame["recency_days"] > 150) | (frame["last_review_rating"] <= 2)
    frame["churned"] = risk & (rng.random(rows) < 0.9)
    frame["future_orders"] = np.where(frame["churned"], 0, 1 + rng.poisson(1.0, rows))
    frame["future_spend"] = frame["future_orders"] * 25.0
    frame["last_review_sentiment"] = np.nan
    return frame.assign(as_of=pd.Timestamp("2025-01-01"))


@pytest.fixture(scope="module")
def fitted() -> tuple[pd.DataFrame, GbmModel]:
    """The shop and LightGBM fitted on it as training fits it, once for the tests that read it."""
    train = shop()
    return train, GbmModel.fit(train, directions=churn_risk())


def test_the_drivers_of_churn_are_the_reasons_in_plain_words(fitted):
    train, model = fitted
    customers = pd.DataFrame([train.iloc[0]] * 3).reset_index(drop=True)
    customers.loc[0, ["recency_days", "mean_interpurchase_days", "last_review_rating"]] = [280.0, 30.0, 5.0]
    customers.loc[1, ["recency_days", "last_review_rating"]] = [10.0, 1.0]
    customers.loc[2, ["recency_days", "last_review_rating"]] = [10.0, 5.0]
    reasons = Explainer(model).reasons(customers)
    assert list(reasons.columns) == ["churn_reason_1", "churn_reason_2", "churn_reason_3"]
    assert reasons.loc[0, "churn_reason_1"] == "no order in 280 days (usually every 30)"
    assert reasons.loc[1, "churn_reason_1"] == "latest review: 1 star"
    # A customer nothing puts at risk gets no recency or review reason.
    assert not any(str(r).startswith(("no order", "latest review")) for r in reasons.loc[2])


def test_path_attributions_add_up_to_the_score(fitted):
    train, model = fitted
    x = numeric_matrix(train.head(200), model.features)
    contributions = PathAttribution(model.churn).contributions(x)
    bias = model.churn.predict(x, raw_score=True) - contributions.sum(axis=1)
    assert np.allclose(bias, bias[0])  # one constant for every row: the trees' root values
    # Where one feature clearly drives the risk, it is the top reason by LightGBM's own SHAP values
    # too, a feature and its missing flag counted as one, as the reasons count them.
    n = len(model.features)
    shap = model.churn.predict(x, pred_contrib=True)[:, :-1]
    shap, contributions = shap[:, :n] + shap[:, n:], contributions[:, :n] + contributions[:, n:]
    clear = shap.max(axis=1) > 1.0
    assert clear.sum() > 20
    assert (shap[clear].argmax(axis=1) == contributions[clear].argmax(axis=1)).mean() > 0.9


def test_missing_values_read_as_what_they_mean():
    row = pd.DataFrame([{name: np.nan for name in NUMERIC_FEATURES}]).iloc[0]
    assert sentence("recency_days", row) == "has never ordered"
    assert sentence("last_review_rating", row) == "no review yet"
    assert sentence("view_to_cart_rate", row) == "view to cart rate: none"
    row["sessions_last_30d"], row["sessions_prev_30d"] = 1.0, 3.0
    assert sentence("sessions_last_30d", row) == "1 visit in the last 30 days (the 30 before: 3)"


def test_a_reason_is_never_given_twice(fitted):
    """The last and the previous 30 days of a count read as one sentence: one reason."""
    train, model = fitted
    reasons = Explainer(model).reasons(train)
    given = reasons.apply(lambda row: [r for r in row if r is not None], axis=1)
    assert given.map(len).sum() > len(train)  # most customers get reasons
    assert not given.map(lambda r: len(r) != len(set(r))).any()


def test_every_feature_that_can_be_a_reason_has_a_sentence_and_only_those_do():
    reasons = set(churn_risk()) - set(TOLD_WITH)
    assert set(SENTENCES) == reasons
    assert churn_risk()["recency_days"] == 1 and churn_risk()["mean_rating"] == -1
    assert "tenure_days" not in churn_risk()  # a long tenure may mean loyal or long gone


def test_a_good_rating_or_a_recent_visit_never_reads_as_a_reason_to_leave():
    """A shop where, by chance, the churners rated 5 stars and visited last month: LightGBM, held
    to the features' directions, cannot learn that either raises the risk."""
    train = shop(1500)
    churned = train["churned"].to_numpy()
    train["mean_rating"] = np.where(churned, 5.0, 3.0)
    train["sessions_last_30d"], train["sessions_prev_30d"] = np.where(churned, 2.0, 0.0), 0.0
    model = GbmModel.fit(train, directions=churn_risk())
    reasons = Explainer(model).reasons(train[churned]).stack()
    assert len(reasons) > churned.sum()
    assert not reasons.str.startswith(("mean rating 5", "2 visits in the last 30 days", "a customer for")).any()
    free = GbmModel.fit(train)  # unconstrained, it learns the accident
    x = numeric_matrix(train, free.features)
    assert free.churn.predict(x[churned]).mean() > model.churn.predict(x[churned]).mean()
