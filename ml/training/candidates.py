"""Every model family judged on the same holdout cutoffs, each logged as a candidate.

One MLflow run per training, with a nested run per family (LightGBM, BG/NBD + Gamma-Gamma,
Pareto/NBD + Gamma-Gamma, the blend of LightGBM and BG/NBD, the transformer) holding its parameters, its metrics on each of the last k
cutoffs (TrainConfig.gate_cutoffs) with their mean and spread, plots and model, and the parent
holding `comparison.md`/`comparison.json` with every candidate side by side, cutoff by cutoff,
and the expected next order date's accuracy against the naive date (evaluate.next_order_metrics).
The registry (ml/training/registry.py) then registers each and promotes the best.

The baselines are judged by rolling origin: for each holdout cutoff they refit on the rows
before it, which costs seconds; the fit before the newest cutoff is the model that goes live.
The transformer fits once, before the first holdout cutoff (ml/training/transformer.py).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import pandas as pd

from ml.data.feature_schema import churn_risk
from ml.models.baselines import BlendModel, ClvModel, GbmModel, ParetoModel
from ml.training import evaluate
from ml.training.config import TrainConfig
from ml.training.finetune import seed_everything
from ml.training.tracking import log_customer_model
from ml.training.transformer import Split, TrainResult, day, run_transformer, time_split


def train_candidates(examples: pd.DataFrame, config: TrainConfig, experiment: str) -> list[TrainResult]:
    seed_everything(config.seed)
    split = time_split(examples, config.gate_cutoffs, config.validation_share, config.seed)
    truth_cuts = split.tier_cuts
    mlflow.set_experiment(experiment)
    results = []
    with mlflow.start_run(run_name=f"candidates, holdout {split.holdout_as_of}"):
        mlflow.log_params({"holdout_as_of": split.holdout_as_of, "holdout_cutoffs": ", ".join(map(day, split.cutoffs)),
                           "train_examples": len(split.train), "holdout_examples": len(split.holdout),
                           "training_cutoffs": split.train["as_of"].nunique()})
        folds = [(cutoff, fit_baselines(split.before(cutoff), config.seed)) for cutoff in split.cutoffs]
        for family in (GbmModel, ClvModel, ParetoModel, BlendModel):
            with mlflow.start_run(run_name=family.family, nested=True):
                models = [(cutoff, family.of(fitted) if family is BlendModel else fitted[family.family])
                          for cutoff, fitted in folds]
                results.append(log_baseline(models, split, truth_cuts, config.seed))
        with mlflow.start_run(run_name="transformer", nested=True):
            results.append(run_transformer(split, config, truth_cuts))
        evaluate.log_comparison({r.family: r.cutoff_metrics for r in results})
        evaluate.log_next_order({day(cutoff): split.at(cutoff) for cutoff in split.cutoffs})
    return results


def fit_baselines(train: pd.DataFrame, seed: int) -> dict[str, object]:
    """The baselines fitted on `train`, by family; LightGBM held to the features' churn directions."""
    return {GbmModel.family: GbmModel.fit(train, seed, churn_risk()), ClvModel.family: ClvModel.fit(train, seed),
            ParetoModel.family: ParetoModel.fit(train, seed)}


def log_baseline(models: list[tuple[pd.Timestamp, object]], split: Split, truth_cuts: list[float],
                 seed: int) -> TrainResult:
    """Evaluate each fold's model on its cutoff and log the newest (fitted on every row before
    the newest cutoff) in the active run."""
    live = models[-1][1]
    mlflow.log_params({"family": live.family, "train_examples": len(split.before(split.cutoffs[-1])),
                       "holdout_as_of": split.holdout_as_of, "seed": seed})
    holdouts = {cutoff: split.at(cutoff) for cutoff, _ in models}
    metrics, by_cutoff, curves = evaluate.log_backtest(
        {day(cutoff): (model.predict(holdouts[cutoff]), holdouts[cutoff]) for cutoff, model in models}, truth_cuts)
    with tempfile.TemporaryDirectory() as tmp:
        model_uri = log_customer_model(live.save(Path(tmp) / "model"), live.family)
    return TrainResult(live.family, mlflow.active_run().info.run_id, model_uri, metrics, split.holdout_as_of, by_cutoff,
                       curves)
