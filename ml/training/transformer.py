"""Fine-tune the customer model on training_examples and log everything to MLflow.

`run_transformer` reads top to bottom: fit (the loop of ml/training/finetune.py, with early
stopping on a validation split and a time budget), calibrate on the validation split, evaluate
on the holdout, calibrate again on the holdout for the model that goes live, log it.

The second calibration is the cheap form of refitting on every labelled cutoff once the model
is judged: the holdout is the newest cutoff whose labels are complete, so it is the closest
picture of what the scoring date will bring: the holdout's own factors carry the shop's latest
trend (what that changed on CDNOW is in docs/model.md, "Calibration").
The logged holdout metrics are those of the validation-calibrated model, a fair estimate of
what the procedure does on a cutoff it has not seen.
"""

from __future__ import annotations

import logging
import math
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from ml.models import predictor, tiers
from ml.models.batching import collate, tokenize, uses_bf16
from ml.models.features import numeric_matrix, sentiment_labels
from ml.models.networks import CustomerModel, pick_device
from ml.training import evaluate
from ml.training.config import TrainConfig
from ml.training.finetune import finetune, seed_everything
from ml.training.tracking import log_customer_model

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """One fitted candidate, logged to MLflow: what the registry needs to register and gate it."""

    family: str
    run_id: str
    model_uri: str
    metrics: dict[str, float]
    holdout_as_of: str


@dataclass
class Split:
    """The time-based split: baselines learn from every row of `train`; the transformer fits on
    `fit` and stops early on `validation` (the newest training cutoff); all are judged on
    `holdout` (the newest cutoff)."""

    train: pd.DataFrame
    fit: pd.DataFrame
    validation: pd.DataFrame
    holdout: pd.DataFrame

    @property
    def holdout_as_of(self) -> str:
        return pd.Timestamp(self.holdout["as_of"].iloc[0]).date().isoformat()

    @property
    def tier_cuts(self) -> list[float]:
        """The tier cut points of the actual spend every candidate is judged against."""
        return tiers.cut_points(self.train["future_spend"].to_numpy("float64"))


@dataclass
class Fitted:
    model: CustomerModel
    tokenizer: PreTrainedTokenizerBase
    prep: predictor.Preprocess
    samples_per_second: float
    rows_seen_share: float


@dataclass
class Batches:
    """Tokenised texts, standardised numbers and targets of one split: the fine-tuning loop's
    examples (ml/training/finetune.py) for the customer model."""

    token_ids: list[list[int]]
    numeric: np.ndarray
    targets: dict[str, torch.Tensor]
    pad_id: int

    @classmethod
    def of(cls, frame: pd.DataFrame, tokenizer, prep: predictor.Preprocess) -> Batches:
        spend = frame["future_spend"].to_numpy("float64")
        return cls(
            token_ids=tokenize(tokenizer, frame, prep.max_length, prep.rendering),
            numeric=prep.standardise(numeric_matrix(frame, prep.feature_names)),
            targets={
                "churned": torch.tensor(frame["churned"].to_numpy("float32")),
                "orders": torch.tensor(frame["future_orders"].to_numpy("float32")),
                "spend": torch.tensor((spend / prep.spend_scale).astype("float32")),
                "tier": torch.tensor(prep.tier_of(spend), dtype=torch.long),
                "sentiment": torch.tensor(sentiment_labels(frame), dtype=torch.long),
            },
            pad_id=tokenizer.pad_token_id,
        )

    def inputs(self, rows: np.ndarray, device: torch.device) -> dict[str, torch.Tensor]:
        return collate(self.token_ids, rows, self.numeric, self.pad_id, device)

    def loss(self, outputs, rows: np.ndarray, device: torch.device) -> torch.Tensor:
        return multitask_loss(outputs, self.targets, rows, device)


def train(examples: pd.DataFrame, config: TrainConfig, experiment: str) -> TrainResult:
    """The transformer alone, in a run of its own (ml/training/candidates.py trains every family)."""
    seed_everything(config.seed)
    split = time_split(examples, config.validation_share, config.seed)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=f"transformer holdout {split.holdout_as_of}"):
        return run_transformer(split, config, split.tier_cuts)


def run_transformer(split: Split, config: TrainConfig, truth_cuts: list[float]) -> TrainResult:
    """Fit, calibrate, evaluate and log the transformer in the active MLflow run."""
    device = pick_device()
    mlflow.log_params({**asdict(config), "family": "transformer", "device": device.type, "bf16": uses_bf16(device),
                       "train_examples": len(split.fit), "validation_examples": len(split.validation),
                       "holdout_examples": len(split.holdout), "holdout_as_of": split.holdout_as_of})
    fitted = fit(split, config, device)
    calibrate(fitted, split.validation, device, config.batch_size * 2)
    scores = predictor.predict(fitted.model, fitted.tokenizer, fitted.prep, split.holdout, device, config.batch_size * 2)
    metrics = evaluate.log_evaluation(scores, split.holdout, truth_cuts)
    calibrate(fitted, split.holdout, device, config.batch_size * 2)
    mlflow.log_param("live_calibration_as_of", split.holdout_as_of)
    mlflow.log_metrics({"live_orders_factor": fitted.prep.orders_factor, "live_spend_factor": fitted.prep.spend_factor})
    with tempfile.TemporaryDirectory() as tmp:
        folder = predictor.save(fitted.model.cpu(), fitted.tokenizer, fitted.prep, Path(tmp) / "model")
        model_uri = log_customer_model(folder, "transformer")
    return TrainResult("transformer", mlflow.active_run().info.run_id, model_uri, metrics, split.holdout_as_of)


def time_split(examples: pd.DataFrame, validation_share: float = 0.2, seed: int = 42) -> Split:
    """Train on the earlier cutoffs, hold out the latest: the model is judged on the future.

    The transformer's validation split (early stopping, calibration) is the newest training
    cutoff, so it too is a step into the future of what the model fits on; with a single
    training cutoff it is a random `validation_share` of its rows.
    """
    cutoffs = sorted(examples["as_of"].unique())
    if len(cutoffs) < 2:
        raise ValueError(
            "training_examples has a single cutoff; a time-based holdout needs at least two. "
            "Raise the dbt var training_cutoffs or load a longer history."
        )
    is_holdout = examples["as_of"] == cutoffs[-1]
    train_set = examples[~is_holdout].reset_index(drop=True)
    if train_set["churned"].nunique() < 2:
        raise ValueError("Every training example has the same churn label; there is nothing to learn yet.")
    if len(cutoffs) > 2:
        is_validation = (train_set["as_of"] == cutoffs[-2]).to_numpy()
    else:
        is_validation = train_set.index.isin(train_set.sample(frac=validation_share, random_state=seed).index)
    return Split(train=train_set, fit=train_set[~is_validation].reset_index(drop=True),
                 validation=train_set[is_validation].reset_index(drop=True),
                 holdout=examples[is_holdout].reset_index(drop=True))


def fit(split: Split, config: TrainConfig, device: torch.device) -> Fitted:
    """The shared fine-tuning loop on the `fit` split for `config.epochs`, or until
    `config.max_train_minutes` are spent, stopping early on the validation split's loss."""
    tokenizer = AutoTokenizer.from_pretrained(config.base_model)
    prep = predictor.Preprocess.fit(numeric_matrix(split.fit), split.fit["future_spend"].to_numpy("float64"),
                                    config.max_length, config.hidden)
    fit_data, val_data = Batches.of(split.fit, tokenizer, prep), Batches.of(split.validation, tokenizer, prep)
    model = build_model(config, fit_data.numeric.shape[1], device)
    init_count_heads(model, split.fit)
    stats = finetune(model, fit_data, config, device, epochs=config.epochs, minutes=config.max_train_minutes,
                     validation=val_data)
    if config.lora_rank > 0:
        model.encoder = model.encoder.merge_and_unload()
    return Fitted(model, tokenizer, prep, stats.samples_per_second, stats.rows_seen_share)


def build_model(config: TrainConfig, n_numeric: int, device: torch.device) -> CustomerModel:
    model = CustomerModel(config.base_model, n_numeric, hidden=config.hidden)
    if config.lora_rank > 0:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=config.lora_rank, lora_alpha=2 * config.lora_rank, lora_dropout=0.05,
                          target_modules=["query", "value"])
        model.encoder = get_peft_model(model.encoder, lora)
    elif config.trainable_layers is not None:
        freeze_below(model.encoder, config.trainable_layers)
    return model.to(device)


def freeze_below(encoder: torch.nn.Module, trainable_layers: int) -> None:
    """Freeze the embeddings and every layer but the top `trainable_layers`.

    No tensor below the first trainable layer then needs a gradient, so autograd neither keeps
    those activations nor runs their backward pass: on a CPU that is what lets one epoch over
    every training row fit in the time budget. The top layers are the task-specific ones.
    """
    layers = encoder.encoder.layer
    frozen = [encoder.embeddings, *layers[: max(len(layers) - trainable_layers, 0)]]
    for module in frozen:
        module.requires_grad_(False)


def init_count_heads(model: CustomerModel, frame: pd.DataFrame) -> None:
    """Start the Poisson heads at the log of the mean target, so the first steps learn who
    orders more rather than how much everybody orders (spend targets are scaled to mean 1)."""
    with torch.no_grad():
        model.orders_head.bias.fill_(math.log(max(frame["future_orders"].mean(), 1e-6)))
        model.spend_head.bias.fill_(0.0)


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


def calibrate(fitted: Fitted, validation: pd.DataFrame, device: torch.device, batch_size: int) -> None:
    """On the validation split: Platt scaling of the churn logit, so probabilities mean what
    they say, and one factor each for expected orders and spend, so their totals match."""
    raw = predictor.raw_outputs(fitted.model, fitted.tokenizer, fitted.prep, validation, device, batch_size)
    fitted.prep.churn_calibration = fit_platt(raw[:, 0], validation["churned"].astype(int).to_numpy())
    fitted.prep.orders_factor = total_ratio(validation["future_orders"], np.exp(np.clip(raw[:, 1], -20, 20)))
    fitted.prep.spend_factor = total_ratio(validation["future_spend"] / fitted.prep.spend_scale,
                                           np.exp(np.clip(raw[:, 2], -20, 20)))


def total_ratio(actual: pd.Series, predicted: np.ndarray) -> float:
    """actual total / predicted total, or 1 when either is empty."""
    total = float(predicted.sum())
    return float(actual.sum()) / total if total > 0 and actual.sum() > 0 else 1.0


def fit_platt(logits: np.ndarray, churned: np.ndarray) -> tuple[float, float]:
    if len(np.unique(churned)) < 2:
        return (1.0, 0.0)
    from sklearn.linear_model import LogisticRegression

    platt = LogisticRegression(C=100.0).fit(logits.reshape(-1, 1), churned)
    return (float(platt.coef_[0, 0]), float(platt.intercept_[0]))


