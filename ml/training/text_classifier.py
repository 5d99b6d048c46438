"""Fine-tune a text classifier on the shop's own labelled texts, judge it, register it: the
review sentiment classifier (labels from the stars, ml/training/review_classifier.py) and the
support ticket intent classifier (the help desk's labels, ml/training/ticket_intent.py).

A `TextTask` says what differs between them: which texts, which labels, which pyfunc. The
classifier learns from the texts written before a cutoff (the scoring date minus the horizon)
and is judged by macro-F1 on the texts written after it, in consecutive slices whose spread is
the gate's noise. A version that passes `judge` is promoted through the registry like every
model (ml/training/registry.py), so `clm rollback --model review|intent` undoes it. The
classifier itself is ml/models/text_classifier.py.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow import MlflowClient
from mlflow.models import ModelSignature
from sklearn.metrics import f1_score
from transformers import AutoTokenizer

from ml.models.batching import pad
from ml.models.networks import TextClassifier, pick_device
from ml.models.pyfunc import TEXT_CLASSIFIER
from ml.models.text_classifier import Classifier
from ml.training import registry
from ml.training.config import TrainConfig
from ml.training.finetune import finetune, seed_everything
from ml.training.tracking import log_pyfunc

log = logging.getLogger(__name__)
# A new classifier replaces the champion unless it is worse on the same later texts by more
# than their slice-to-slice noise, and at least this.
F1_TOLERANCE = 0.01


@dataclass(frozen=True)
class TextTask:
    """One text classifier: its texts (a frame with `text_column` and `time_column`), the
    class of each (`label_of`: indices into `labels`), and how MLflow serves it."""

    name: str  # MLflow's `task` param
    noun: str  # what its texts are, in messages: "reviews", "tickets"
    labels: tuple[str, ...]
    text_column: str
    time_column: str
    label_of: Callable[[pd.DataFrame], np.ndarray]
    pyfunc: Callable[[], mlflow.pyfunc.PythonModel]
    signature: ModelSignature
    predicted_column: str  # the pyfunc's column of predicted class names
    min_texts: int  # fewer labelled texts before the cutoff than this: nothing to fine-tune
    without: str  # what scores the texts while no classifier is trained


@dataclass
class Examples:
    """Tokenised texts and their classes: the fine-tuning loop's examples
    (ml/training/finetune.py). Classes are weighted by their inverse frequency: macro-F1 counts
    every class alike, however rare."""

    token_ids: list[list[int]]
    labels: torch.Tensor
    weights: torch.Tensor
    pad_id: int

    @classmethod
    def of(cls, task: TextTask, texts: pd.DataFrame, classifier: Classifier) -> Examples:
        labels = torch.tensor(task.label_of(texts), dtype=torch.long)
        counts = torch.bincount(labels, minlength=len(task.labels)).float()
        weights = torch.where(counts > 0, counts.sum() / (len(task.labels) * counts.clamp(min=1)), 0.0)
        return cls(classifier.token_ids(texts[task.text_column].tolist()), labels, weights.to(classifier.device),
                   classifier.tokenizer.pad_token_id)

    def forward(self, model: torch.nn.Module, rows: np.ndarray, device: torch.device) -> torch.Tensor:
        return model(**pad(self.token_ids, rows, self.pad_id, device))

    def loss(self, logits: torch.Tensor, rows: np.ndarray, device: torch.device) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(logits.float(), self.labels[rows].to(device), weight=self.weights)


def fit(task: TextTask, texts: pd.DataFrame, config: TrainConfig, device: torch.device
        ) -> tuple[Classifier, dict[str, float]]:
    """The shared fine-tuning loop on the texts for `config.sentiment_epochs` epochs, or until
    `config.sentiment_train_minutes` are spent."""
    seed_everything(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(config.base_model)
    classifier = Classifier(TextClassifier(config.base_model, len(task.labels)), tokenizer, config.max_length,
                            task.labels, device)
    stats = finetune(classifier.model, Examples.of(task, texts, classifier), config, device,
                     epochs=config.sentiment_epochs, minutes=config.sentiment_train_minutes)
    return classifier, {"train_samples_per_second": stats.samples_per_second,
                        "train_rows_seen_share": stats.rows_seen_share}


def macro_f1(task: TextTask, texts: pd.DataFrame, predicted: np.ndarray) -> float:
    """Macro-F1 of predicted class names against the texts' own classes."""
    return float(f1_score(task.label_of(texts), pd.Index(task.labels).get_indexer(predicted), average="macro",
                          labels=range(len(task.labels)), zero_division=0))


def train(task: TextTask, texts: pd.DataFrame, cutoff: pd.Timestamp, config: TrainConfig, experiment: str,
          name: str, baseline: tuple[str, Callable[[list[str]], np.ndarray]] | None = None) -> dict:
    """Fine-tune on the texts before `cutoff`, judge on those after, log and register the
    classifier; it becomes the champion unless the champion is better on the same texts.
    `baseline` (a name and a function from texts to class names) is judged on the same slices
    and logged beside it."""
    earlier = texts[texts[task.time_column] < cutoff].reset_index(drop=True)
    later = texts[texts[task.time_column] >= cutoff].reset_index(drop=True)
    classes_seen = np.unique(task.label_of(earlier))
    if len(earlier) < task.min_texts or len(classes_seen) < 2:
        reason = (f"{len(earlier)} labelled {task.noun} before {cutoff.date()} in {len(classes_seen)} class(es); "
                  f"fine-tuning needs {task.min_texts} in at least two. {task.without}")
        log.info(reason)
        return {"trained": False, "reason": reason}
    device = pick_device()
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=f"{task.name.replace('_', ' ')}, cutoff {cutoff.date()}") as run:
        mlflow.log_params({**asdict(config), "task": task.name, "device": device.type,
                           "cutoff": str(cutoff.date()), f"train_{task.noun}": len(earlier),
                           f"evaluation_{task.noun}": len(later)})
        classifier, speed = fit(task, earlier, config, device)  # the loop logs its own metrics
        metrics = {**speed}
        slices = later_slices(task, later, config.gate_cutoffs)
        new_f1s = [macro_f1(task, part, classifier.predict(part[task.text_column].tolist())["label"].to_numpy())
                   for part in slices]
        if new_f1s:
            metrics["macro_f1"] = float(np.mean(new_f1s))
            mlflow.log_metrics({"macro_f1": metrics["macro_f1"], "macro_f1_sd": float(np.std(new_f1s)),
                                **{f"macro_f1_slice_{i + 1}": f1 for i, f1 in enumerate(new_f1s)}})
            if baseline is not None:
                baseline_name, predict = baseline
                metrics[f"{baseline_name}_macro_f1"] = float(np.mean(
                    [macro_f1(task, part, predict(part[task.text_column].tolist())) for part in slices]))
                mlflow.log_metric(f"{baseline_name}_macro_f1", metrics[f"{baseline_name}_macro_f1"])
        with tempfile.TemporaryDirectory() as tmp:
            model_uri = log_pyfunc(task.pyfunc(), classifier.save(Path(tmp) / "model"), task.signature,
                                   TEXT_CLASSIFIER)
    version = str(mlflow.register_model(model_uri, name).version)
    client = MlflowClient()
    client.set_model_version_tag(name, version, "cutoff", str(cutoff.date()))
    promoted, reason = gate(task, name, slices, new_f1s)
    if promoted:
        registry.promote(name, version, reason)
    client.set_model_version_tag(name, version, "gate_reason", reason)
    return {"trained": True, "version": version, "run_id": run.info.run_id, "champion": promoted, "reason": reason,
            "cutoff": str(cutoff.date()), "evaluation_texts": len(later), **metrics}


def later_slices(task: TextTask, later: pd.DataFrame, k: int) -> list[pd.DataFrame]:
    """The later texts in `k` consecutive slices of about equal size, oldest first: each is a
    step further from what the classifier learnt, and their spread is the gate's noise."""
    ordered = later.sort_values(task.time_column, kind="stable").reset_index(drop=True)
    return [ordered.iloc[rows] for rows in np.array_split(np.arange(len(ordered)), min(k, len(ordered))) if len(rows)]


def gate(task: TextTask, name: str, slices: list[pd.DataFrame], new_f1s: list[float]) -> tuple[bool, str]:
    """Whether the new version takes over, and why: the champion, if any, is scored on the same
    slices of later texts and `judge` compares the two."""
    current = registry.champion_version(name)
    champion_f1s = None
    if current is not None and new_f1s:
        champion = mlflow.pyfunc.load_model(f"models:/{name}/{current}")
        champion_f1s = [macro_f1(task, part, champion.predict(part[[task.text_column]])[task.predicted_column].to_numpy())
                        for part in slices]
    return judge(new_f1s or None, champion_f1s, has_champion=current is not None, noun=task.noun)


def judge(new_f1s: list[float] | None, champion_f1s: list[float] | None, has_champion: bool,
          noun: str) -> tuple[bool, str]:
    """A text classifier's rule: a new version takes over unless the champion's macro-F1 on the
    same slices of later texts is higher by more than their noise (registry.compare, at least
    F1_TOLERANCE). A first version takes over, and so does one with no later texts to judge on:
    the newest knows the most labels."""
    if not has_champion:
        return True, "first classifier"
    if not new_f1s or not champion_f1s:
        return True, f"no later {noun} to compare on; the newest classifier knows the most labels"
    versus = registry.compare(new_f1s, champion_f1s, F1_TOLERANCE)
    said = (f"macro-F1 {np.mean(new_f1s):.3f} on {len(new_f1s)} slice(s) of later {noun}, "
            f"champion's {np.mean(champion_f1s):.3f}: {versus}")
    return (False, f"{said}: below the champion's by more than the noise") if versus.loses else (True, said)
