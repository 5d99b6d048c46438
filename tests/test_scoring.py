"""Streaming scoring: chunks add up to one pass over every customer, and every precision the
transformer kept at training keeps the fp32 model's quality; scoring times them and runs the fastest."""

from __future__ import annotations

import shutil

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from ml.actions import scoring
from ml.actions.reasons import Explainer
from ml.data.warehouse import read_frame
from ml.models.clv import with_clv_features
from ml.models.features import model_input
from ml.models.precision import PRECISIONS, Choice

pytestmark = pytest.mark.e2e
MODEL = "clm-customer-model"


def saved(home, family: str):
    mlflow.set_tracking_uri(f"sqlite:///{home / 'mlflow.db'}")
    return mlflow.pyfunc.load_model(f"models:/{MODEL}@{family}").unwrap_python_model().predictor


@pytest.fixture
def warehouse_copy(pipeline_home, tmp_path):
    copy = tmp_path / "analytics.duckdb"
    shutil.copy(pipeline_home / "analytics.duckdb", copy)
    return copy


@pytest.mark.parametrize("family", ["lightgbm", "transformer"])
def test_chunks_score_every_customer_once_as_one_pass_would(pipeline_home, warehouse_copy, family):
    model, explainer = saved(pipeline_home, family), Explainer(saved(pipeline_home, "lightgbm"))
    out = warehouse_copy.with_name("scores.parquet")
    chunks = scoring.read_chunks(warehouse_copy, "analytics.customer_features", 40, 90)
    scored = scoring.score_to_parquet(chunks, model, explainer, out, {"model_family": family}, total=None)

    streamed = pd.read_parquet(out).sort_values("customer_id").reset_index(drop=True)
    features = read_frame(warehouse_copy, "select * from analytics.customer_features order by customer_id")
    whole = model.predict(model_input(with_clv_features(features, 90)))
    assert scored.rows == len(features) > 40 * 5  # several chunks
    assert streamed["customer_id"].tolist() == features["customer_id"].astype(str).tolist()
    assert (streamed["model_family"] == family).all()
    assert streamed["churn_reason_1"].notna().mean() > 0.5
    # LightGBM scores each row alone; the transformer's batches differ in padding by chunk, which
    # bf16 and int8 round differently.
    tolerance = 1e-9 if family == "lightgbm" else 0.02
    assert np.abs(streamed["churn_probability"] - whole["churn_probability"]).max() <= tolerance
    assert np.allclose(streamed["expected_orders"], whole["expected_orders"], rtol=tolerance * 5, atol=tolerance)
    assert scored.mean_churn_probability == pytest.approx(whole["churn_probability"].mean(), abs=tolerance)


def test_every_precision_kept_at_training_keeps_the_fp32_models_quality_and_scoring_runs_the_fastest(pipeline_home):
    model = saved(pipeline_home, "transformer")
    run = mlflow.get_run(mlflow.MlflowClient().get_model_version_by_alias(MODEL, "transformer").run_id).data
    kept = model.preprocess.precisions
    assert run.params["precisions_kept"] == ",".join(kept) and kept[0] == "fp32" and len(kept) > 1
    assert run.params["precision"] in kept and run.params["frozen_layers_precision"] in PRECISIONS
    for precision in PRECISIONS:
        assert run.metrics[f"precision_{precision}_rows_per_second"] > 0
        assert (run.metrics[f"precision_{precision}_churn_auc_delta"] <= 0.005
                and run.metrics[f"precision_{precision}_orders_correlation"] >= 0.999) == (precision in kept)
    assert run.metrics["train_rows_seen_share"] == 1.0

    holdout = read_frame(pipeline_home / "analytics.duckdb",
                         "select * from analytics.training_examples where as_of = "
                         "(select max(as_of) from analytics.training_examples) order by customer_id")
    inputs, churned = model_input(with_clv_features(holdout, 90)), holdout["churned"].astype(int)
    model.choice = Choice("fp32", {})
    full = model.predict(inputs)
    for precision in kept[1:]:
        model.choice = Choice(precision, {})
        fast = model.predict(inputs)
        assert abs(roc_auc_score(churned, fast["churn_probability"])
                   - roc_auc_score(churned, full["churn_probability"])) <= 0.005
        assert np.corrcoef(fast["expected_orders"], full["expected_orders"])[0, 1] >= 0.999

    model.choice = None
    model.predict(inputs)
    assert model.choice.precision == "fp32" and model.choice.rates == {}
    assert model.choice.describe().startswith(f"fp32 (not timed: {len(inputs):,} customers, fewer than the 5,000")

    model.choice, model.min_timed_rows = None, 0
    model.predict(inputs)
    assert set(model.choice.rates) == set(kept)
    assert model.choice.precision == max(model.choice.rates, key=model.choice.rates.get)
