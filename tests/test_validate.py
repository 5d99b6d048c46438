"""The GX suites: what dbt's tests cannot say. Each suite passes a clean frame and fails a bad
one, with the rule, the column and example rows named."""

import tempfile
from pathlib import Path

import pandas as pd
import pytest

from ml.data.validate import ValidationFailed, data_docs_index, validate_tables
from ml.settings import PROJECT_DIR

SUITES = PROJECT_DIR / "expectations"
DRIFT = {"churn_mean_low": 0.05, "churn_mean_high": 0.55}
GX_ROOT = Path(tempfile.mkdtemp(prefix="clm-gx-"))


def features(n: int = 50) -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [str(i) for i in range(n)], "as_of": pd.Timestamp("2026-01-01"),
        "tenure_days": 400, "days_since_first_order": 300, "recency_days": 20, "frequency": 3, "orders_last_30d": 1,
    })


def examples(n: int = 40) -> pd.DataFrame:
    churned = [i % 4 == 0 for i in range(n)]
    return pd.DataFrame({"customer_id": [str(i) for i in range(n)], "as_of": pd.Timestamp("2025-10-01"),
                         "churned": churned, "future_orders": [0 if c else 2 for c in churned]})


def scores(n: int = 40) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [str(i) for i in range(n)], "churn_probability": [0.1 + 0.5 * (i % 2) for i in range(n)],
                         "expected_spend": [float(i) for i in range(n)]})


def raw_orders(n: int = 100) -> pd.DataFrame:
    return pd.DataFrame({"order_id": [str(i) for i in range(n)], "customer_id": "c", "ordered_at": pd.Timestamp("2025-01-01"),
                         "amount": 10.0})


def fails(frames: dict, parameters: dict | None = None) -> str:
    with pytest.raises(ValidationFailed) as failure:
        validate_tables(frames, SUITES, GX_ROOT, parameters)
    return str(failure.value)


@pytest.mark.slow  # every suite through GX, with the Data Docs
def test_clean_frames_pass_every_suite_and_data_docs_are_built(tmp_path):
    statistics = validate_tables({"customer_features": features(), "training_examples": examples(),
                                  "customer_scores": scores(), "raw_orders": raw_orders()}, SUITES, tmp_path, DRIFT)
    assert all(s["unsuccessful_expectations"] == 0 for s in statistics.values())
    assert "customer_features" in data_docs_index(tmp_path).read_text()


def test_features_that_disagree_with_each_other_fail_and_are_named():
    frame = features()
    frame.loc[3, "recency_days"] = 9999
    frame.loc[7, "orders_last_30d"] = 8
    message = fails({"customer_features": frame})
    assert "customer_features.tenure_days, recency_days" in message and "customer_id=3" in message
    assert "customer_features.frequency, orders_last_30d" in message and "customer_id=7" in message


def test_a_label_that_contradicts_the_orders_and_a_single_class_fail():
    frame = examples()
    frame.loc[5, "churned"] = True  # churned, yet 2 orders in the window
    message = fails({"training_examples": frame})
    assert "training_examples.future_orders" in message and "customer_id=5" in message and "churned" in message
    assert "training_examples.churned" in fails({"training_examples": examples().assign(churned=False, future_orders=1)})


def test_scores_that_do_not_discriminate_or_jumped_since_the_last_run_fail():
    message = fails({"customer_scores": scores().assign(churn_probability=0.3)}, DRIFT)
    assert "customer_scores.churn_probability: expect_column_stdev_to_be_between" in message
    jumped = fails({"customer_scores": scores().assign(churn_probability=lambda f: f["churn_probability"] + 0.35)},
                   DRIFT)
    assert "expect_column_mean_to_be_between {'min_value': 0.05, 'max_value': 0.55}" in jumped


@pytest.mark.parametrize("table, column", [("raw_orders", "customer_id"), ("raw_customers", "customer_id"),
                                           ("raw_order_items", "product_id"), ("raw_products", "product_id"),
                                           ("raw_events", "event_type"), ("raw_reviews", "rating")])
def test_a_raw_export_missing_a_tenth_of_a_required_column_fails(table, column):
    frame = pd.DataFrame({"customer_id": "c", column: ["x"] * 90 + [None] * 10})
    assert f"{table}.{column}: expect_column_values_to_not_be_null" in fails({table: frame})
