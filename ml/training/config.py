"""The training knobs of both fine-tuned models, in one place: the customer model
(ml/training/transformer.py) and the text classifiers (ml/training/text_classifier.py: review sentiment, ticket intent).

Both fine-tune the same encoder through the same loop (ml/training/finetune.py), so they share
the encoder, token length, batch size, learning rates and seed; each has its own epochs and time
budget. A JSON file named by CLM_TRAIN_CONFIG overrides any of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch

from ml.models.networks import default_base_model


@dataclass
class TrainConfig:
    """Defaults suit a CPU; on CUDA larger batches, more epochs and no time budgets are used."""

    # Both models.
    base_model: str = field(default_factory=default_base_model)
    # Tokens of a text: a customer's rendering starts with its latest review, so the cut falls on
    # numbers the numeric features hold anyway (48 tokens: docs/decisions/0005-renderings-of-48-tokens-review-first.md);
    # a review is cut at the same length.
    max_length: int = 48
    batch_size: int = 32
    # AdamW's rate for the pretrained encoder and for the new heads on top of it.
    learning_rate: float = 5e-5
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    seed: int = 42
    # "fp32" or "bf16" (autocast) for the training steps; None: whichever runs faster on this
    # machine, timed at the start (ml/training/finetune.py). Set it for runs that must repeat bit for bit.
    train_precision: str | None = None
    # The gates judge each model on the last k cutoffs whose labels are complete (the customer
    # models) or on k consecutive slices of the later reviews (the review classifier), and
    # promote a challenger only when it wins by more than the spread between them
    # (ml/training/registry.py `compare`).
    gate_cutoffs: int = 3

    # The customer model.
    epochs: int = 2
    # Wall-clock budget for its fitting loop; it stops at the first step past it. None: no limit.
    max_train_minutes: float | None = 15.0
    hidden: int = 128
    # Encoder layers fine-tuned, counted from the top; the embeddings and the layers below stay
    # frozen, so backward passes stop early. None: all of them (LoRA adapts every layer).
    trainable_layers: int | None = 2
    # Share of the rows its validation split takes when there is a single training cutoff.
    validation_share: float = 0.2
    # Epochs without a better validation loss before it stops.
    patience: int = 1
    lora_rank: int = 0

    # The review sentiment classifier, which trains first.
    sentiment_epochs: int = 3
    sentiment_train_minutes: float | None = 3.0

    @classmethod
    def for_device(cls, device: torch.device, **overrides) -> TrainConfig:
        if device.type == "cuda":
            overrides = {"batch_size": 128, "epochs": 4, "max_train_minutes": None, "sentiment_train_minutes": None,
                         "trainable_layers": None, **overrides}
        return cls(**overrides)

    @classmethod
    def from_json(cls, path: Path | None, device: torch.device) -> TrainConfig:
        """Device defaults, overridden by the JSON file's keys (CLM_TRAIN_CONFIG) when given."""
        overrides = json.loads(Path(path).read_text()) if path else {}
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"{path} sets unknown training option(s) {sorted(unknown)}; "
                             f"known: {sorted(f.name for f in fields(cls))}.")
        return cls.for_device(device, **overrides)
