"""Every model family trained on the same time-based split, each logged as a candidate.

One MLflow run per training, with a nested run per family (LightGBM, BG/NBD + Gamma-Gamma,
their blend, the transformer) holding its parameters, holdout metrics, plots and model, and the parent
holding `comparison.md`/`comparison.json` with every candidate side by side. The registry
(ml/training/registry.py) then registers each and promotes the best.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import pandas as pd

from ml.models.baselines import BlendModel, ClvModel, GbmModel
from ml.training import evaluate
from ml.training.config import TrainConfig
from ml.training.finetune import seed_everything
from ml.training.tracking import log_customer_model
from ml.training.transformer import Split, TrainResult, run_transformer, time_split


def train_candidates(examples: pd.DataFrame, config: TrainConfig, experiment: str) -> list[TrainResult]:
    seed_everything(config.seed)
    split = time_split(examples, config.validation_share, config.seed)
    truth_cuts = split.tier_cuts
    mlflow.set_experiment(experiment)
    results = []
    with mlflow.start_run(run_name=f"candidates, holdout {split.holdout_as_of}"):
        mlflow.log_params({"holdout_as_of": split.holdout_as_of, "train_examples": len(split.train),
                           "holdout_examples": len(split.holdout), "training_cutoffs": split.train["as_of"].nunique()})
        fitted = {}
        for family in (GbmModel, ClvModel):
            with mlflow.start_run(run_name=family.family, nested=True):
                fitted[family.family] = family.fit(split.train, config.seed)
                results.append(log_baseline(fitted[family.family], split, truth_cuts, config.seed))
        with mlflow.start_run(run_name=BlendModel.family, nested=True):
            blend = BlendModel(fitted[GbmModel.family], fitted[ClvModel.family])
            results.append(log_baseline(blend, split, truth_cuts, config.seed))
        with mlflow.start_run(run_name="transformer", nested=True):
            results.append(run_transformer(split, config, truth_cuts))
        evaluate.log_comparison({r.family: r.metrics for r in results})
    return results


def log_baseline(model, split: Split, truth_cuts: list[float], seed: int) -> TrainResult:
    """Evaluate and log a baseline fitted on every training row in the active run."""
    mlflow.log_params({"family": model.family, "train_examples": len(split.train),
                       "holdout_as_of": split.holdout_as_of, "seed": seed})
    metrics = evaluate.log_evaluation(model.predict(split.holdout), split.holdout, truth_cuts)
    with tempfile.TemporaryDirectory() as tmp:
        model_uri = log_customer_model(model.save(Path(tmp) / "model"), model.family)
    return TrainResult(model.family, mlflow.active_run().info.run_id, model_uri, metrics, split.holdout_as_of)
