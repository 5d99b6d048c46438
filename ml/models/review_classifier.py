"""The review sentiment classifier, ready to score texts, and its on-disk format.

A saved classifier is a folder: `encoder/` and `tokenizer/` in Hugging Face format, `head.pt`,
and `config.json` (the token length it was trained at). Training (ml/training/review_classifier.py)
writes it, MLflow carries it as the pyfunc's artifact (ml/models/pyfunc.py), scoring loads it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import AutoTokenizer

from ml.models.batching import length_buckets, pad, spread
from ml.models.networks import SENTIMENTS, ReviewClassifier, pick_device
from ml.models.precision import BF16, FP32, Choice, autocast, measure, supported, untimed


class Classifier:
    """A fine-tuned review classifier with its tokenizer, ready to score texts."""

    def __init__(self, model: ReviewClassifier, tokenizer, max_length: int, device: torch.device | None = None):
        self.device = device or pick_device()
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = 256 if self.device.type == "cuda" else 64
        # fp32 or bf16 autocast, timed on the first texts scored where they are MIN_TIMED_ROWS or
        # more (int8 is not judged for this model).
        self.choice: Choice | None = None

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]

    @torch.inference_mode()
    def probabilities(self, texts: list[str]) -> np.ndarray:
        """P(negative), P(neutral), P(positive) per text, in length-bucketed batches."""
        self.model.eval()
        if not texts:
            return np.empty((0, len(SENTIMENTS)))
        token_ids = self.token_ids(texts)
        buckets = length_buckets([len(t) for t in token_ids], self.batch_size)

        def padded(rows):
            return pad(token_ids, rows, self.tokenizer.pad_token_id, self.device)

        if self.choice is None:
            self.choice = (untimed(len(texts), "reviews") or
                           measure(self.logits, [padded(rows) for rows in spread(buckets, 6)],
                                   [p for p in (FP32, BF16) if p in supported(self.device)],
                                   rows=lambda batch: len(batch["input_ids"])))
        out = np.empty((len(texts), len(SENTIMENTS)), dtype="float64")
        for rows in buckets:
            out[rows] = torch.softmax(self.logits(self.choice.precision, padded(rows)), dim=-1).cpu().numpy()
        return out

    def logits(self, precision: str, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with autocast(self.device, precision):
            return self.model(**batch).float()

    def predict(self, texts: list[str]) -> pd.DataFrame:
        """Per text: the three probabilities, the most likely label, and P(positive) - P(negative)."""
        probability = self.probabilities(texts)
        return pd.DataFrame({
            **{name: probability[:, i] for i, name in enumerate(SENTIMENTS)},
            "sentiment_label": np.asarray(SENTIMENTS)[probability.argmax(axis=1)],
            "sentiment_score": probability[:, 2] - probability[:, 0],
        })

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        self.model.encoder.save_pretrained(folder / "encoder")
        self.tokenizer.save_pretrained(folder / "tokenizer")
        torch.save(self.model.head.state_dict(), folder / "head.pt")
        (folder / "config.json").write_text(json.dumps({"max_length": self.max_length}))
        return folder

    @classmethod
    def load(cls, folder: Path) -> Classifier:
        model = ReviewClassifier(str(folder / "encoder"))
        model.head.load_state_dict(torch.load(folder / "head.pt", map_location="cpu"))
        config = json.loads((folder / "config.json").read_text())
        return cls(model, AutoTokenizer.from_pretrained(folder / "tokenizer"), config["max_length"])

