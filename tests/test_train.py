"""The training loop on its own: LoRA, the multi-task outputs and the logged pyfunc."""

from __future__ import annotations

import duckdb
import mlflow
import numpy as np
import pytest
import torch

from ml.models.clv import with_clv_features
from ml.models.features import model_input
from ml.models.precision import Variants
from ml.training.config import TrainConfig
from ml.training.transformer import Batches, build_model, frozen_layers, train

pytestmark = pytest.mark.e2e


def test_lora_training_logs_a_model_that_scores_every_task(pipeline_home, tmp_path):
    with duckdb.connect(str(pipeline_home / "analytics.duckdb"), read_only=True) as con:
        # The two latest cutoffs: one to train on, the holdout.
        examples = con.execute("select * from analytics.training_examples where as_of in "
                               "(select distinct as_of from analytics.training_examples order by as_of desc limit 2)").df()
    examples = with_clv_features(examples, 90)
    config = TrainConfig(lora_rank=4, max_train_minutes=0.3, max_length=48, batch_size=16, epochs=2)
    lora_model = build_model(config, n_numeric=10, device=torch.device("cpu"))
    trainable = sum(p.numel() for p in lora_model.encoder.parameters() if p.requires_grad)
    total = sum(p.numel() for p in lora_model.encoder.parameters())
    assert 0 < trainable < 0.05 * total

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.create_experiment("lora", artifact_location=(tmp_path / "artifacts").as_uri())
    result = train(examples, config, "lora")

    assert 0 <= result.metrics["roc_auc"] <= 1 and np.isfinite(result.metrics["brier"])
    run = mlflow.get_run(result.run_id)
    assert run.data.params["lora_rank"] == "4"
    model = mlflow.pyfunc.load_model(result.model_uri)
    # The live model is calibrated on the holdout: its orders and spend add up there.
    everyone = examples[examples["as_of"] == examples["as_of"].max()]
    totals = model.predict(model_input(everyone))[["expected_orders", "expected_spend"]].sum()
    assert totals.to_numpy() == pytest.approx(everyone[["future_orders", "future_spend"]].sum().to_numpy(), rel=0.01)
    assert run.data.params["live_calibration_as_of"] == str(everyone["as_of"].iloc[0].date())
    holdout = everyone.head(40)
    scores = model.predict(model_input(holdout))
    assert list(scores.columns) == ["churn_probability", "expected_orders", "expected_spend", "value_tier",
                                    "review_sentiment"]
    assert scores["churn_probability"].between(0, 1).all()
    reviewed = holdout["last_review_text"].notna().to_numpy()
    assert scores.loc[reviewed, "review_sentiment"].between(-1, 1).all()
    assert scores.loc[~reviewed, "review_sentiment"].isna().all()


def test_only_the_top_layers_learn_on_a_cpu_budget():
    config = TrainConfig(trainable_layers=2)
    model = build_model(config, n_numeric=10, device=torch.device("cpu"))
    learning = {name.split(".")[2] for name, p in model.encoder.named_parameters()
                if p.requires_grad and name.startswith("encoder.layer.")}
    assert learning == {"4", "5"}
    assert not any(p.requires_grad for p in model.encoder.embeddings.parameters())
    assert all(p.requires_grad for p in model.churn_head.parameters())
    # CUDA trains every layer.
    assert TrainConfig.for_device(torch.device("cuda")).trainable_layers is None


def test_training_from_cached_frozen_states_gives_what_the_whole_model_gives():
    config = TrainConfig(trainable_layers=2)
    model = build_model(config, n_numeric=3, device=torch.device("cpu")).eval()
    rng = np.random.default_rng(0)
    token_ids = [[101, *rng.integers(1000, 5000, size=n).tolist(), 102] for n in (3, 9, 5, 12, 1, 7)]
    batches = Batches(token_ids, rng.normal(size=(6, 3)).astype("float32"), targets={}, pad_id=0)
    rows = np.array([0, 3, 4, 5])
    with torch.no_grad():
        whole = batches.forward(model, rows, torch.device("cpu"))
        batches.cache(Variants(model, torch.device("cpu")), frozen_layers(model, config), batch_size=4,
                      candidates=("fp32",))
        cached = batches.forward(model, rows, torch.device("cpu"))
    assert batches.cached.layers == 4 and batches.cached.states.shape[0] == sum(len(t) for t in token_ids)
    # fp16 storage of the states is all that differs.
    assert torch.allclose(whole.churn_logit, cached.churn_logit, atol=1e-2)
    assert torch.allclose(whole.tier_logits, cached.tier_logits, atol=1e-2)
