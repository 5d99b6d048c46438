"""Batched, length-bucketed inference with a trained customer model, and its on-disk format.

A saved model is a folder: `encoder/` and `tokenizer/` in Hugging Face format, `heads.pt` for
the layers on top, and `preprocess.json` for the numeric standardisation. Training writes it,
MLflow carries it as the pyfunc's artifact, scoring loads it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from ml.models import tiers
from ml.models.batching import collate, length_buckets, spread, tokenize
from ml.models.features import NUMERIC_FEATURES, NUMERIC_FEATURES_V1, RENDERING, numeric_matrix
from ml.models.networks import SENTIMENTS, CustomerModel, pick_device
from ml.models.onnx_int8 import OnnxInt8
from ml.models.precision import BF16, FP32, INT8, MIN_TIMED_ROWS, Choice, Variants, autocast, measure, supported, untimed
from ml.models.tiers import VALUE_TIERS

log = logging.getLogger(__name__)


@dataclass
class Preprocess:
    """What turns rows into model inputs and model outputs into scores, fitted on training data."""

    numeric_mean: list[float]
    numeric_std: list[float]
    max_length: int
    hidden: int
    spend_scale: float
    tier_thresholds: list[float]
    # Platt scaling of the churn logit, fitted on the validation split: p = sigmoid(a * logit + b).
    churn_calibration: tuple[float, float] = (1.0, 0.0)
    # Fitted on the validation split too: totals of expected orders and spend match the actual.
    orders_factor: float = 1.0
    spend_factor: float = 1.0
    # The numeric features the model was trained on, in order (None: saved before this was kept).
    numeric_features: list[str] | None = None
    # The text rendering it learnt (ml/models/features.render_text); 1 for models saved before it was kept.
    rendering: int = 1
    # The precisions that kept the model's quality against fp32 on the holdout at training
    # (ml/training/transformer.py); scoring times these and runs the fastest. None: saved before
    # they were judged, when such models ran in fp32 or bf16.
    precisions: list[str] | None = None

    @property
    def feature_names(self) -> list[str]:
        return self.numeric_features or list(NUMERIC_FEATURES_V1)

    @property
    def allowed_precisions(self) -> list[str]:
        return self.precisions or [FP32, BF16]

    @classmethod
    def fit(cls, numeric: np.ndarray, future_spend: np.ndarray, max_length: int, hidden: int) -> Preprocess:
        std = numeric.std(axis=0)
        thresholds = tiers.cut_points(future_spend)
        return cls(numeric.mean(axis=0).tolist(), np.where(std > 0, std, 1.0).tolist(), max_length, hidden,
                   float(max(future_spend.mean(), 1e-6)), thresholds, numeric_features=list(NUMERIC_FEATURES),
                   rendering=RENDERING)

    def standardise(self, numeric: np.ndarray) -> np.ndarray:
        return ((numeric - np.asarray(self.numeric_mean)) / np.asarray(self.numeric_std)).astype("float32")

    def tier_of(self, spend: np.ndarray) -> np.ndarray:
        """Tier index (0 low, 1 medium, 2 high) of a next-H-day spend."""
        return tiers.tier_index(self.tier_thresholds, spend)


@dataclass
class Prepared:
    """A chunk of rows as the model takes them: token ids, standardised numbers, and which rows
    have a review (the others get no review sentiment)."""

    token_ids: list[list[int]]
    numeric: np.ndarray
    has_review: np.ndarray


def prepare(tokenizer: PreTrainedTokenizerBase, preprocess: Preprocess, frame: pd.DataFrame) -> Prepared:
    """Render and tokenise (the fast tokenizer, in one batch) and standardise: the CPU work of
    scoring that does not need the model, so it can run beside inference."""
    return Prepared(tokenize(tokenizer, frame, preprocess.max_length, preprocess.rendering),
                    preprocess.standardise(numeric_matrix(frame, preprocess.feature_names)), has_review(frame))


@torch.inference_mode()
def raw_from_prepared(variants: ModelVariants, precision: str, prepared: Prepared, pad_id: int, batch_size: int,
                      progress: Callable[[int], object] | None = None) -> np.ndarray:
    """Every head's raw output per prepared row, in its order: churn logit, log orders, log
    spend, tier logits, sentiment logits, with the model at `precision`. Batches are sorted by
    token length (little padding). `progress` hears the rows done after each batch (Progress.update).
    """
    raw = np.empty((len(prepared.token_ids), 3 + len(VALUE_TIERS) + len(SENTIMENTS)), dtype="float32")
    done = 0
    for rows in length_buckets([len(t) for t in prepared.token_ids], batch_size):
        raw[rows] = run_batch(variants, precision, collate(prepared.token_ids, rows, prepared.numeric, pad_id,
                                                           variants.device))
        done += len(rows)
        if progress is not None:
            progress(done)
    return raw.astype("float64")


def run_batch(variants: ModelVariants, precision: str, batch: dict[str, torch.Tensor]) -> np.ndarray:
    """One collated batch through the model at `precision`: the heads' raw outputs side by side."""
    if precision == INT8:
        return variants.onnx_int8(batch)
    with torch.inference_mode(), autocast(variants.device, precision):
        return variants.module(precision).eval()(**batch).stacked().float().cpu().numpy()


class ModelVariants(Variants):
    """The customer model at each precision, int8 as ONNX Runtime runs the whole model
    (ml/models/onnx_int8.py), exported on first use from the first batch it is given."""

    def __init__(self, model: CustomerModel, device: torch.device):
        super().__init__(model, device)
        self.onnx: OnnxInt8 | None = None

    def onnx_int8(self, batch: dict[str, torch.Tensor]) -> np.ndarray:
        if self.onnx is None:
            self.onnx = OnnxInt8(self.model, batch)
        return self.onnx(batch)


def time_precisions(variants: ModelVariants, prepared: Prepared, pad_id: int, batch_size: int,
                    candidates: list[str], batches: int = 6) -> Choice:
    """The fastest of `candidates` on up to `batches` of the prepared rows' length buckets,
    spread from the shortest to the longest."""
    picked = spread(length_buckets([len(t) for t in prepared.token_ids], batch_size), batches)
    collated = [collate(prepared.token_ids, rows, prepared.numeric, pad_id, variants.device) for rows in picked]
    return measure(lambda precision, batch: run_batch(variants, precision, batch), collated, candidates,
                   rows=lambda batch: len(batch["input_ids"]))


def raw_outputs(variants: ModelVariants, precision: str, tokenizer: PreTrainedTokenizerBase, preprocess: Preprocess,
                frame: pd.DataFrame, batch_size: int, progress: Callable[[int], object] | None = None) -> np.ndarray:
    return raw_from_prepared(variants, precision, prepare(tokenizer, preprocess, frame), tokenizer.pad_token_id,
                             batch_size, progress)


def scores_of(preprocess: Preprocess, raw: np.ndarray, reviewed: np.ndarray) -> pd.DataFrame:
    """Raw head outputs to scores: churn probability, expected orders and spend in the next H
    days, value tier, and the sentiment of the latest review (NaN without one)."""
    slope, intercept = preprocess.churn_calibration
    return pd.DataFrame({
        "churn_probability": 1.0 / (1.0 + np.exp(-(slope * raw[:, 0] + intercept))),
        "expected_orders": np.exp(np.clip(raw[:, 1], -20, 20)) * preprocess.orders_factor,
        "expected_spend": np.exp(np.clip(raw[:, 2], -20, 20)) * preprocess.spend_scale * preprocess.spend_factor,
        "value_tier": np.asarray(VALUE_TIERS)[raw[:, 3:6].argmax(axis=1)],
        "review_sentiment": np.where(reviewed, sentiment_score(raw[:, 6:9]), np.nan),
    })


def has_review(frame: pd.DataFrame) -> np.ndarray:
    return frame["last_review_text"].notna().to_numpy()


def sentiment_score(logits: np.ndarray) -> np.ndarray:
    """P(positive) - P(negative), in [-1, 1]."""
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    probability = exp / exp.sum(axis=1, keepdims=True)
    return probability[:, 2] - probability[:, 0]


def save(model: CustomerModel, tokenizer: PreTrainedTokenizerBase, preprocess: Preprocess, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.encoder.save_pretrained(folder / "encoder")
    tokenizer.save_pretrained(folder / "tokenizer")
    torch.save(model.heads_state_dict(), folder / "heads.pt")
    (folder / "preprocess.json").write_text(json.dumps(asdict(preprocess)))
    return folder


class Predictor:
    """A saved customer model, ready to score DataFrames of customer_features rows."""

    def __init__(self, folder: Path, device: torch.device | None = None, batch_size: int | None = None,
                 precision: str | None = None):
        self.device = device or pick_device()
        self.batch_size = batch_size or (256 if self.device.type == "cuda" else 64)
        self.preprocess = Preprocess(**json.loads((folder / "preprocess.json").read_text()))
        self.tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer")
        n_numeric = len(self.preprocess.numeric_mean)
        self.model = CustomerModel(str(folder / "encoder"), n_numeric, hidden=self.preprocess.hidden)
        result = self.model.load_state_dict(torch.load(folder / "heads.pt", map_location="cpu"), strict=False)
        if result.unexpected_keys or any(not k.startswith("encoder.") for k in result.missing_keys):
            raise ValueError(f"{folder} does not hold a model of this version of clm: {result}")
        self.model.to(self.device).eval()
        self.variants = ModelVariants(self.model, self.device)
        # The precision scoring runs at: `precision` if given, else timed on the first rows scored.
        self.choice: Choice | None = None if precision is None else Choice(precision, {})
        self.min_timed_rows = MIN_TIMED_ROWS

    @classmethod
    def load(cls, folder: Path) -> Predictor:
        return cls(folder)

    @property
    def candidates(self) -> list[str]:
        """The precisions this device runs that kept the model's quality at training."""
        return [p for p in supported(self.device) if p in self.preprocess.allowed_precisions] or [FP32]

    @property
    def overlaps_preparation(self) -> bool:
        """Whether preparing the next chunk beside inference pays: on a GPU, or where the CPU has
        a core that torch's threads leave free (on 2 cores it slows both)."""
        return self.device.type == "cuda" or (os.cpu_count() or 1) > torch.get_num_threads()

    def prepare(self, frame: pd.DataFrame) -> Prepared:
        return prepare(self.tokenizer, self.preprocess, frame)

    def choose_precision(self, prepared: Prepared) -> Choice:
        """Time the candidates on these rows once, the first time rows come; the choice holds after.
        Fewer rows than `min_timed_rows` run at fp32 untimed: the int8 export and the timing
        would cost more than the fastest precision saves on them."""
        if self.choice is None:
            self.choice = (untimed(len(prepared.token_ids), "customers", self.min_timed_rows) or
                           time_precisions(self.variants, prepared, self.tokenizer.pad_token_id, self.batch_size,
                                           self.candidates))
            log.info("scoring precision: %s", self.choice.describe("customers/s"))
        return self.choice

    def predict_prepared(self, prepared: Prepared) -> pd.DataFrame:
        precision = self.choose_precision(prepared).precision
        raw = raw_from_prepared(self.variants, precision, prepared, self.tokenizer.pad_token_id, self.batch_size)
        return scores_of(self.preprocess, raw, prepared.has_review)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.predict_prepared(self.prepare(frame))
