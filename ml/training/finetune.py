"""The fine-tuning loop every transformer model shares: the customer model
(ml/training/transformer.py) and the text classifiers (ml/training/text_classifier.py: review sentiment, ticket intent).

Each model gives only what differs: its examples (the token ids, and how a batch of rows becomes
the model's inputs and a loss), its epochs and its minutes, and for the customer model a
validation split. `finetune` reads top to bottom: AdamW with one rate for the encoder and one
for the heads, fp32 or bf16 autocast as timing a few steps of each says (ml/models/precision.py),
then per epoch shuffled length-bucketed batches with clipped gradients until a wall-clock
deadline, every step's loss logged to MLflow; with a validation split, its loss after each epoch
(with progress), early stopping and the best epoch's weights restored.
"""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from dataclasses import dataclass
from typing import Any, Protocol

import mlflow
import numpy as np
import torch

from ml.models.batching import length_buckets, spread
from ml.models.precision import BF16, FP32, Choice, autocast, measure
from ml.progress import Progress, say
from ml.training.config import TrainConfig

log = logging.getLogger(__name__)
MAX_GRAD_NORM = 1.0


class Examples(Protocol):
    """One split's rows as the loop sees them."""

    token_ids: list[list[int]]  # per row: what length buckets are made of

    def forward(self, model: torch.nn.Module, rows: np.ndarray, device: torch.device) -> Any:
        """The model's outputs for these rows, computed on `device`."""

    def loss(self, outputs: Any, rows: np.ndarray, device: torch.device) -> torch.Tensor:
        """The rows' mean loss, given what the model returned for them."""


@dataclass
class FitStats:
    samples_per_second: float
    # Share of the training rows the loop got through (1.0 unless the deadline came first).
    rows_seen_share: float
    epochs_run: int


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and make torch pick deterministic kernels: called before a
    model is built, so its new heads start alike on every run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW with a small rate for the pretrained `encoder`'s trainable weights and a larger one
    for everything else (the new heads)."""
    return torch.optim.AdamW(
        [
            {"params": [p for p in model.encoder.parameters() if p.requires_grad], "lr": config.learning_rate},
            {"params": [p for n, p in model.named_parameters() if not n.startswith("encoder.")],
             "lr": config.head_learning_rate},
        ],
        weight_decay=config.weight_decay,
    )


def finetune(model: torch.nn.Module, train: Examples, config: TrainConfig, device: torch.device, *, epochs: int,
             minutes: float | None, validation: Examples | None = None) -> FitStats:
    """Fit `model` (already on `device`) to `train` for `epochs`, or until `minutes` are spent;
    with `validation`, stop once its loss has not improved for `config.patience` epochs and keep
    the best epoch's weights. Logged in the active MLflow run: train_loss per step,
    validation_loss per epoch, samples per second, the share of rows seen and the epochs run."""
    optimizer = make_optimizer(model, config)
    precision = config.train_precision or training_precision(model, train, config.batch_size, device).precision
    shuffle = np.random.default_rng(config.seed)
    deadline = None if minutes is None else time.monotonic() + 60 * minutes
    progress = Progress("trained on", "samples", epochs * len(train.token_ids), deadline=deadline)
    best_loss, best_state, stale = math.inf, None, 0
    step = samples = epochs_run = 0
    started = time.perf_counter()

    for epoch in range(epochs):
        epochs_run += 1
        model.train()
        batches = length_buckets([len(t) for t in train.token_ids], config.batch_size)
        shuffle.shuffle(batches)
        for rows in batches:
            if past(deadline):
                log.info("time budget spent: stopping the epoch early")
                break
            with autocast(device, precision):
                outputs = train.forward(model, rows, device)
            loss = train.loss(outputs, rows, device)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            mlflow.log_metric("train_loss", loss.item(), step=step)
            step, samples = step + 1, samples + len(rows)
            progress.update(samples)

        if validation is not None:
            val_loss = evaluation_loss(model, validation, config.batch_size * 2, device, precision)
            mlflow.log_metric("validation_loss", val_loss, step=epoch)
            log.info("epoch %d: %d steps, %d samples, validation loss %.4f", epoch + 1, step, samples, val_loss)
            if val_loss < best_loss:
                best_loss, best_state, stale = val_loss, copy.deepcopy(model.state_dict()), 0
            else:
                stale += 1
            if stale >= config.patience:
                break
        if past(deadline):
            break

    if best_state is not None:
        model.load_state_dict(best_state)
    stats = FitStats(samples_per_second=samples / max(time.perf_counter() - started, 1e-9),
                     rows_seen_share=min(samples / max(len(train.token_ids), 1), 1.0), epochs_run=epochs_run)
    mlflow.log_metrics({"train_samples_per_second": stats.samples_per_second,
                        "train_rows_seen_share": stats.rows_seen_share, "epochs_run": stats.epochs_run})
    return stats


def training_precision(model: torch.nn.Module, train: Examples, batch_size: int, device: torch.device) -> Choice:
    """fp32 or bf16 autocast, whichever runs a training step (forward and backward) faster here,
    timed on a few batches from the shortest to the longest. The gradients are dropped and the
    optimizer does not step, so the weights stay as they were. Logged to MLflow and the log."""
    batches = spread(length_buckets([len(t) for t in train.token_ids], batch_size), 4)

    def step(precision: str, rows: np.ndarray) -> None:
        with autocast(device, precision):
            outputs = train.forward(model, rows, device)
        train.loss(outputs, rows, device).backward()
        model.zero_grad(set_to_none=True)

    model.train()
    choice = measure(step, batches, [FP32, BF16], rows=len)
    say(f"training steps at {choice.describe('samples/s')}")
    mlflow.log_param("training_steps_precision", choice.precision)
    mlflow.log_metrics({f"train_{p}_samples_per_second": rate for p, rate in choice.rates.items()})
    return choice


@torch.no_grad()
def evaluation_loss(model: torch.nn.Module, examples: Examples, batch_size: int, device: torch.device,
                    precision: str) -> float:
    """The mean loss over every row, in length order (no shuffling, no gradients)."""
    model.eval()
    total, count = 0.0, 0
    progress = Progress("validated on", "samples", len(examples.token_ids))
    for rows in length_buckets([len(t) for t in examples.token_ids], batch_size):
        with autocast(device, precision):
            outputs = examples.forward(model, rows, device)
        total += examples.loss(outputs, rows, device).item() * len(rows)
        count += len(rows)
        progress.update(count)
    return total / max(count, 1)


def past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline
