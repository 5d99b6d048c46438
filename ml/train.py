"""Fine-tune the customer model on training_examples and log everything to MLflow.

Read top to bottom: split by time, prepare inputs, train, evaluate on the holdout, log.
"""

from __future__ import annotations

import json
import logging
import random
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch
from transformers import AutoTokenizer

from ml import metrics as churn_metrics
from ml import predictor
from ml.features import numeric_matrix
from ml.model import CustomerModel, default_base_model, pick_device
from ml.tracking import log_customer_model

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Training knobs. Defaults suit a CPU; on CUDA larger batches and all examples are used."""

    base_model: str = field(default_factory=default_base_model)
    max_length: int = 96
    batch_size: int = 32
    epochs: int = 1
    learning_rate: float = 5e-5
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    hidden: int = 128
    max_train_samples: int | None = 1024
    seed: int = 42

    @classmethod
    def for_device(cls, device: torch.device, **overrides) -> "TrainConfig":
        if device.type == "cuda":
            overrides = {"batch_size": 128, "max_train_samples": None, "epochs": 3, **overrides}
        return cls(**overrides)

    @classmethod
    def from_json(cls, path: Path | None, device: torch.device) -> "TrainConfig":
        """Device defaults, overridden by the JSON file's keys (CLM_TRAIN_CONFIG) when given."""
        overrides = json.loads(Path(path).read_text()) if path else {}
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"{path} sets unknown training option(s) {sorted(unknown)}; "
                             f"known: {sorted(f.name for f in fields(cls))}.")
        return cls.for_device(device, **overrides)


@dataclass
class TrainResult:
    run_id: str
    model_uri: str
    metrics: dict[str, float]
    holdout_as_of: str


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def time_split(examples: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on the earlier cutoffs, hold out the latest: the model is judged on the future."""
    cutoffs = sorted(examples["as_of"].unique())
    if len(cutoffs) < 2:
        raise ValueError(
            "training_examples has a single cutoff; a time-based holdout needs at least two. "
            "Raise the dbt var training_cutoffs or load a longer history."
        )
    holdout = examples["as_of"] == cutoffs[-1]
    return examples[~holdout].reset_index(drop=True), examples[holdout].reset_index(drop=True)


def train(examples: pd.DataFrame, config: TrainConfig, experiment: str) -> TrainResult:
    device = pick_device()
    seed_everything(config.seed)
    train_set, holdout = time_split(examples)
    holdout_as_of = pd.Timestamp(holdout["as_of"].iloc[0]).date().isoformat()
    if config.max_train_samples and len(train_set) > config.max_train_samples:
        train_set = train_set.sample(config.max_train_samples, random_state=config.seed).reset_index(drop=True)
    if train_set["churned"].nunique() < 2:
        raise ValueError("Every training example has the same churn label; there is nothing to learn yet.")

    tokenizer = AutoTokenizer.from_pretrained(config.base_model)
    train_numeric = numeric_matrix(train_set)
    prep = predictor.Preprocess.fit(train_numeric, config.max_length, config.hidden)
    token_ids = predictor.tokenize(tokenizer, train_set, config.max_length)
    numeric = prep.standardise(train_numeric)
    labels = torch.tensor(train_set["churned"].astype("float32").to_numpy())

    model = CustomerModel(config.base_model, numeric.shape[1], hidden=config.hidden).to(device)
    optimizer = torch.optim.AdamW(
        [
            {"params": model.encoder.parameters(), "lr": config.learning_rate},
            {"params": [p for n, p in model.named_parameters() if not n.startswith("encoder.")],
             "lr": config.head_learning_rate},
        ],
        weight_decay=config.weight_decay,
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    generator = np.random.default_rng(config.seed)

    mlflow.set_experiment(experiment)
    with mlflow.start_run() as run:
        mlflow.log_params({**asdict(config), "device": device.type, "train_examples": len(train_set),
                           "holdout_examples": len(holdout), "holdout_as_of": holdout_as_of})
        step = 0
        for epoch in range(config.epochs):
            model.train()
            batches = predictor.length_buckets([len(t) for t in token_ids], config.batch_size)
            generator.shuffle(batches)
            for rows in batches:
                inputs = predictor.collate(token_ids, rows, numeric, tokenizer.pad_token_id, device)
                with predictor.autocast(device):
                    logits = model(**inputs)
                loss = loss_fn(logits.float(), labels[rows].to(device))
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                mlflow.log_metric("train_loss", loss.item(), step=step)
                step += 1
            log.info("epoch %d done after %d steps", epoch + 1, step)

        logits = predictor.predict_logits(model, tokenizer, prep, holdout, device, batch_size=config.batch_size * 2)
        probability = 1.0 / (1.0 + np.exp(-logits.astype("float64")))
        truth = holdout["churned"].astype(int).to_numpy()
        metrics = churn_metrics.churn_metrics(truth, probability)
        mlflow.log_metrics({f"holdout_{k}": v for k, v in metrics.items()})
        churn_metrics.log_churn_plots(truth, probability)

        with tempfile.TemporaryDirectory() as tmp:
            folder = predictor.save(model.cpu(), tokenizer, prep, Path(tmp) / "model")
            model_uri = log_customer_model(folder)
    return TrainResult(run.info.run_id, model_uri, metrics, holdout_as_of)
