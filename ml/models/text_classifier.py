"""A fine-tuned text classifier (review sentiment, support ticket intent), ready to score texts,
and its on-disk format.

A saved classifier is a folder: `encoder/` and `tokenizer/` in Hugging Face format, `head.pt`,
and `config.json` (the token length it was trained at and its classes' names). Training
(ml/training/text_classifier.py) writes it, MLflow carries it as the pyfunc's artifact
(ml/models/pyfunc.py), scoring loads it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import AutoTokenizer

from ml.models.batching import length_buckets, pad, spread
from ml.models.features import SENTIMENTS
from ml.models.networks import TextClassifier, pick_device
from ml.models.precision import BF16, FP32, Choice, Variants, autocast, measure, supported, untimed

# Compiled code fuses operations and so rounds differently; in bf16 a class's probability moves by
# about 0.001. More than this is not rounding.
MAX_COMPILED_DRIFT = 0.02


class Classifier:
    """A fine-tuned text classifier with its tokenizer and the names of its classes."""

    def __init__(self, model: TextClassifier, tokenizer, max_length: int, labels: tuple[str, ...],
                 device: torch.device | None = None):
        self.device = device or pick_device()
        self.model = model.to(self.device).eval()
        self.variants = Variants(self.model, self.device)  # made after fine-tuning: its copies keep today's weights
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.labels = tuple(labels)
        self.batch_size = 256 if self.device.type == "cuda" else 64
        # fp32 or bf16 autocast, timed on the first texts scored where they are MIN_TIMED_ROWS or
        # more (int8 is not judged for this model).
        self.choice: Choice | None = None

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]

    @torch.inference_mode()
    def probabilities(self, texts: list[str]) -> np.ndarray:
        """P(class) per text and class, in length-bucketed batches."""
        self.model.eval()
        if not texts:
            return np.empty((0, len(self.labels)))
        token_ids = self.token_ids(texts)
        buckets = length_buckets([len(t) for t in token_ids], self.batch_size)
        if self.choice is None:
            self.choice = untimed(len(texts), "texts") or self._timed(token_ids, buckets)
        out = np.empty((len(texts), len(self.labels)), dtype="float64")
        for rows in buckets:
            out[rows] = torch.softmax(self.logits(self.choice.precision, self._padded(token_ids, rows)),
                                      dim=-1).cpu().numpy()
        return out

    @torch.inference_mode()
    def choose_precision(self, texts: list[str]) -> Choice:
        """Time fp32 and bf16 on `texts` however few, and keep the faster: for a server, whose
        every batch is small but whose batches never end."""
        token_ids = self.token_ids(texts)
        self.choice = self._timed(token_ids, length_buckets([len(t) for t in token_ids], self.batch_size))
        return self.choice

    def compile(self, texts: list[str]) -> float:
        """Compile the chosen precision's model (torch.compile, dynamic shapes) for a process that
        reads batches for hours: its passes then run fused code instead of a few hundred torch
        calls (docs/support.md, "Load"). Compiled on a batch of one text and on `texts`, the
        shapes whose code serves every later batch, and checked against the model as it was;
        raises, leaving that model in place, where it cannot compile (no C++ compiler, say) or
        reads `texts` otherwise. Returns the seconds it took."""
        if self.choice is None:
            self.choose_precision(texts)
        precision, started = self.choice.precision, time.perf_counter()
        as_loaded = self.variants.module(precision)
        before = self.probabilities(texts)
        self.variants.replace(precision, torch.compile(as_loaded, dynamic=True))
        try:
            self.probabilities(texts[:1])
            after = self.probabilities(texts)
            drift = np.abs(after - before).max()
            if (after.argmax(axis=1) != before.argmax(axis=1)).any() or drift > MAX_COMPILED_DRIFT:
                raise ValueError(f"the compiled model's probabilities moved by up to {drift:.3f} on {len(texts)} "
                                 f"texts, or named another class; the limit is {MAX_COMPILED_DRIFT}")
        except Exception:
            self.variants.replace(precision, as_loaded)
            raise
        return time.perf_counter() - started

    def _timed(self, token_ids: list[list[int]], buckets: list[np.ndarray]) -> Choice:
        return measure(self.logits, [self._padded(token_ids, rows) for rows in spread(buckets, 6)],
                       [p for p in (FP32, BF16) if p in supported(self.device)],
                       rows=lambda batch: len(batch["input_ids"]))

    def _padded(self, token_ids: list[list[int]], rows: np.ndarray) -> dict[str, torch.Tensor]:
        return pad(token_ids, rows, self.tokenizer.pad_token_id, self.device)

    def logits(self, precision: str, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with autocast(self.device, precision):
            return self.variants.module(precision).eval()(**batch).float()

    def predict(self, texts: list[str]) -> pd.DataFrame:
        """Per text: each class's probability, the most likely class (`label`) and its probability
        (`confidence`)."""
        probability = self.probabilities(texts)
        return pd.DataFrame({
            **{name: probability[:, i] for i, name in enumerate(self.labels)},
            "label": np.asarray(self.labels, dtype=object)[probability.argmax(axis=1)] if len(texts) else [],
            "confidence": probability.max(axis=1) if len(texts) else [],
        })

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        self.model.encoder.save_pretrained(folder / "encoder")
        self.tokenizer.save_pretrained(folder / "tokenizer")
        torch.save(self.model.head.state_dict(), folder / "head.pt")
        (folder / "config.json").write_text(json.dumps({"max_length": self.max_length, "labels": list(self.labels)}))
        return folder

    @classmethod
    def load(cls, folder: Path) -> Classifier:
        config = json.loads((folder / "config.json").read_text())
        # Classifiers saved before ticket intents were all review sentiment ones.
        labels = tuple(config.get("labels", SENTIMENTS))
        model = TextClassifier(str(folder / "encoder"), len(labels))
        model.head.load_state_dict(torch.load(folder / "head.pt", map_location="cpu"))
        return cls(model, AutoTokenizer.from_pretrained(folder / "tokenizer"), config["max_length"], labels)
