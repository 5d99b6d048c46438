"""Fine-tune the customer model on training_examples and log everything to MLflow.

Read top to bottom: split by time, prepare inputs and targets, train with early stopping on a
validation split, evaluate on the holdout beside the baselines, log.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch
from transformers import AutoTokenizer

from ml import baselines, predictor
from ml import metrics as m
from ml.features import numeric_matrix, sentiment_labels
from ml.model import VALUE_TIERS, CustomerModel, default_base_model, pick_device
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
    validation_share: float = 0.2
    patience: int = 1
    lora_rank: int = 0
    seed: int = 42

    @classmethod
    def for_device(cls, device: torch.device, **overrides) -> "TrainConfig":
        if device.type == "cuda":
            overrides = {"batch_size": 128, "max_train_samples": None, "epochs": 4, **overrides}
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


@dataclass
class Batches:
    """Tokenised texts, standardised numbers and targets of one split."""

    token_ids: list[list[int]]
    numeric: np.ndarray
    targets: dict[str, torch.Tensor]

    @classmethod
    def of(cls, frame: pd.DataFrame, tokenizer, prep: predictor.Preprocess) -> "Batches":
        spend = frame["future_spend"].to_numpy("float64")
        return cls(
            token_ids=predictor.tokenize(tokenizer, frame, prep.max_length),
            numeric=prep.standardise(numeric_matrix(frame)),
            targets={
                "churned": torch.tensor(frame["churned"].to_numpy("float32")),
                "orders": torch.tensor(frame["future_orders"].to_numpy("float32")),
                "spend": torch.tensor((spend / prep.spend_scale).astype("float32")),
                "tier": torch.tensor(prep.tier_of(spend), dtype=torch.long),
                "sentiment": torch.tensor(sentiment_labels(frame), dtype=torch.long),
            },
        )


def multitask_loss(out, targets: dict[str, torch.Tensor], rows: np.ndarray, device: torch.device) -> torch.Tensor:
    """Churn cross-entropy, Poisson deviance for orders and spend, tier and review-sentiment
    cross-entropy (customers without a review do not count for the last); summed."""
    t = {k: v[rows].to(device) for k, v in targets.items()}
    poisson = torch.nn.functional.poisson_nll_loss
    return (torch.nn.functional.binary_cross_entropy_with_logits(out.churn_logit.float(), t["churned"])
            + poisson(out.log_orders.float(), t["orders"], log_input=True)
            + poisson(out.log_spend.float(), t["spend"], log_input=True)
            + torch.nn.functional.cross_entropy(out.tier_logits.float(), t["tier"])
            + torch.nn.functional.cross_entropy(out.sentiment_logits.float(), t["sentiment"], ignore_index=-100,
                                                reduction="sum") / len(rows))


def build_model(config: TrainConfig, n_numeric: int, device: torch.device) -> CustomerModel:
    model = CustomerModel(config.base_model, n_numeric, hidden=config.hidden)
    if config.lora_rank > 0:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=config.lora_rank, lora_alpha=2 * config.lora_rank, lora_dropout=0.05,
                          target_modules=["query", "value"])
        model.encoder = get_peft_model(model.encoder, lora)
    return model.to(device)


def train_epoch(model: CustomerModel, data: Batches, optimizer: torch.optim.Optimizer, batch_size: int,
                pad_id: int, device: torch.device, generator: np.random.Generator):
    """One pass over length-bucketed batches in shuffled order; yields (loss, rows) per step."""
    model.train()
    batches = predictor.length_buckets([len(t) for t in data.token_ids], batch_size)
    generator.shuffle(batches)
    for rows in batches:
        inputs = predictor.collate(data.token_ids, rows, data.numeric, pad_id, device)
        with predictor.autocast(device):
            out = model(**inputs)
        loss = multitask_loss(out, data.targets, rows, device)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        yield loss.item(), len(rows)


def fit_calibration(logits: np.ndarray, churned: np.ndarray) -> tuple[float, float]:
    """Platt scaling on the validation split, so probabilities mean what they say."""
    if len(np.unique(churned)) < 2:
        return (1.0, 0.0)
    from sklearn.linear_model import LogisticRegression

    platt = LogisticRegression(C=100.0).fit(logits.reshape(-1, 1), churned)
    return (float(platt.coef_[0, 0]), float(platt.intercept_[0]))


def make_optimizer(model: CustomerModel, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW with a small rate for the pretrained encoder and a larger one for the new heads."""
    return torch.optim.AdamW(
        [
            {"params": [p for p in model.encoder.parameters() if p.requires_grad], "lr": config.learning_rate},
            {"params": [p for n, p in model.named_parameters() if not n.startswith("encoder.")],
             "lr": config.head_learning_rate},
        ],
        weight_decay=config.weight_decay,
    )


@torch.no_grad()
def validation_loss(model, data: Batches, batch_size: int, pad_id: int, device: torch.device) -> float:
    model.eval()
    total, count = 0.0, 0
    for rows in predictor.length_buckets([len(t) for t in data.token_ids], batch_size):
        with predictor.autocast(device):
            out = model(**predictor.collate(data.token_ids, rows, data.numeric, pad_id, device))
        total += multitask_loss(out, data.targets, rows, device).item() * len(rows)
        count += len(rows)
    return total / max(count, 1)


def train(examples: pd.DataFrame, config: TrainConfig, experiment: str) -> TrainResult:
    device = pick_device()
    seed_everything(config.seed)
    train_set, holdout = time_split(examples)
    holdout_as_of = pd.Timestamp(holdout["as_of"].iloc[0]).date().isoformat()
    all_train = train_set  # the baselines are cheap: they learn from every training row
    if config.max_train_samples and len(train_set) > config.max_train_samples:
        train_set = train_set.sample(config.max_train_samples, random_state=config.seed).reset_index(drop=True)
    if train_set["churned"].nunique() < 2:
        raise ValueError("Every training example has the same churn label; there is nothing to learn yet.")
    validation = train_set.sample(frac=config.validation_share, random_state=config.seed)
    fit_set = train_set.drop(validation.index).reset_index(drop=True)
    validation = validation.reset_index(drop=True)

    tokenizer = AutoTokenizer.from_pretrained(config.base_model)
    prep = predictor.Preprocess.fit(numeric_matrix(fit_set), fit_set["future_spend"].to_numpy("float64"),
                                    config.max_length, config.hidden)
    fit_data, val_data = Batches.of(fit_set, tokenizer, prep), Batches.of(validation, tokenizer, prep)
    model = build_model(config, fit_data.numeric.shape[1], device)
    optimizer = make_optimizer(model, config)
    generator = np.random.default_rng(config.seed)

    mlflow.set_experiment(experiment)
    with mlflow.start_run() as run:
        mlflow.log_params({**asdict(config), "device": device.type, "train_examples": len(fit_set),
                           "validation_examples": len(validation), "holdout_examples": len(holdout),
                           "holdout_as_of": holdout_as_of})
        best_loss, best_state, stale, step, samples, started = float("inf"), None, 0, 0, 0, time.perf_counter()
        for epoch in range(config.epochs):
            for loss, rows in train_epoch(model, fit_data, optimizer, config.batch_size, tokenizer.pad_token_id,
                                          device, generator):
                mlflow.log_metric("train_loss", loss, step=step)
                step, samples = step + 1, samples + rows
            val_loss = validation_loss(model, val_data, config.batch_size * 2, tokenizer.pad_token_id, device)
            mlflow.log_metric("validation_loss", val_loss, step=epoch)
            log.info("epoch %d: %d steps, validation loss %.4f", epoch + 1, step, val_loss)
            if val_loss < best_loss:
                best_loss, best_state, stale = val_loss, copy.deepcopy(model.state_dict()), 0
            else:
                stale += 1
                if stale >= config.patience:
                    log.info("early stop: validation loss has not improved for %d epoch(s)", stale)
                    break
        mlflow.log_metric("train_samples_per_second", samples / (time.perf_counter() - started))
        model.load_state_dict(best_state)
        if config.lora_rank > 0:
            model.encoder = model.encoder.merge_and_unload()
        prep.churn_calibration = fit_calibration(
            predictor.churn_logits(model, tokenizer, prep, validation, device, config.batch_size * 2),
            validation["churned"].astype(int).to_numpy())

        scores = predictor.predict(model, tokenizer, prep, holdout, device, batch_size=config.batch_size * 2)
        metrics = baselines.holdout_metrics(scores, holdout, prep)
        mlflow.log_metrics({f"holdout_{k}": v for k, v in metrics.items()})
        truth = holdout["churned"].astype(int).to_numpy()
        m.log_plots(truth, scores["churn_probability"].to_numpy(),
                    np.asarray(VALUE_TIERS)[prep.tier_of(holdout["future_spend"].to_numpy("float64"))],
                    scores["value_tier"].to_numpy())
        comparison = baselines.compare(all_train, holdout, prep, {"transformer": metrics})
        mlflow.log_table(comparison, "comparison.json")
        mlflow.log_text(comparison.to_markdown(index=False, floatfmt=".4f"), "comparison.md")

        with tempfile.TemporaryDirectory() as tmp:
            folder = predictor.save(model.cpu(), tokenizer, prep, Path(tmp) / "model")
            model_uri = log_customer_model(folder)
    return TrainResult(run.info.run_id, model_uri, metrics, holdout_as_of)
