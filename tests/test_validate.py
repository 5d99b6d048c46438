
import pandas as pd
import pytest

from ml.settings import PROJECT_DIR
from ml.validate import ValidationFailed, data_docs_index, validate_tables

SUITES = PROJECT_DIR / "expectations"


def good_features(n: int = 50) -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [str(i) for i in range(n)],
        "as_of": pd.Timestamp("2026-01-01"),
        "frequency": 3, "monetary": 120.0, "avg_order_value": 40.0,
        "tenure_days": 400, "recency_days": 20,
        "discount_share": 0.1, "cancel_rate": 0.0, "return_rate": 0.05, "top_category_share": 0.5,
        "sessions": 12, "review_count": 1, "mean_rating": 4.0, "mean_review_sentiment": 0.5,
    })


def test_clean_features_pass_and_data_docs_are_built(tmp_path):
    statistics = validate_tables({"customer_features": good_features()}, SUITES, tmp_path)
    assert statistics["customer_features"]["unsuccessful_expectations"] == 0
    assert statistics["customer_features"]["evaluated_expectations"] >= 15
    assert "customer_features" in data_docs_index(tmp_path).read_text()


def test_one_bad_row_fails_and_is_named(tmp_path):
    frame = good_features()
    frame.loc[17, "monetary"] = -5.0
    with pytest.raises(ValidationFailed) as failure:
        validate_tables({"customer_features": frame}, SUITES, tmp_path)
    message = str(failure.value)
    assert "customer_features.monetary" in message
    assert "expect_column_values_to_be_between" in message
    assert "customer_id=17" in message and "1 row(s)" in message


def test_inconsistent_pair_and_duplicate_key_fail(tmp_path):
    frame = good_features()
    frame.loc[3, "recency_days"] = 9999
    frame.loc[4, "customer_id"] = "5"
    with pytest.raises(ValidationFailed) as failure:
        validate_tables({"customer_features": frame}, SUITES, tmp_path)
    message = str(failure.value)
    assert "tenure_days, recency_days" in message and "customer_id=3" in message
    assert "expect_column_values_to_be_unique" in message
