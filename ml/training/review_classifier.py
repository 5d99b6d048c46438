"""Fine-tune the review sentiment classifier on the shop's own star ratings, judge it, register it.

The stars are labels every review already carries: 1-2 negative, 3 neutral, 4-5 positive. The
classifier learns from the reviews written before a cutoff (the scoring date minus the horizon)
and is judged by macro-F1 on the reviews written after it; the pipeline's `evaluate_sentiment`
step puts the sentiment lexicon's macro-F1 on the same reviews beside it. A version that passes
`judge` is promoted through the registry like every model (ml/training/registry.py), so
`clm rollback --model review` undoes it. Scoring the reviews is ml/actions/review_sentiment.py;
the classifier itself is ml/models/review_classifier.py.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow import MlflowClient
from sklearn.metrics import f1_score
from transformers import AutoTokenizer

from ml.models.batching import pad
from ml.models.features import star_sentiment
from ml.models.networks import SENTIMENTS, ReviewClassifier, pick_device
from ml.models.pyfunc import REVIEW_CLASSIFIER, REVIEW_SIGNATURE, ReviewSentimentPyfunc
from ml.models.review_classifier import Classifier
from ml.training import registry
from ml.training.config import TrainConfig
from ml.training.finetune import finetune, seed_everything
from ml.training.tracking import log_pyfunc

log = logging.getLogger(__name__)
# With fewer earlier reviews than this, or one star class only, there is nothing to fine-tune
# on: the lexicon stays in charge.
MIN_REVIEWS = 100
# A new classifier replaces the champion unless it is worse on the same later reviews by more
# than their slice-to-slice noise, and at least this.
F1_TOLERANCE = 0.01


@dataclass
class Reviews:
    """Tokenised reviews and their stars' sentiment: the fine-tuning loop's examples
    (ml/training/finetune.py) for the review classifier. Classes are weighted by their inverse
    frequency: most reviews are positive, and macro-F1 counts every class alike."""

    token_ids: list[list[int]]
    labels: torch.Tensor
    weights: torch.Tensor
    pad_id: int

    @classmethod
    def of(cls, reviews: pd.DataFrame, classifier: Classifier) -> Reviews:
        labels = torch.tensor(star_sentiment(reviews["rating"].to_numpy("float64")), dtype=torch.long)
        counts = torch.bincount(labels, minlength=len(SENTIMENTS)).float()
        weights = torch.where(counts > 0, counts.sum() / (len(SENTIMENTS) * counts.clamp(min=1)), 0.0)
        return cls(classifier.token_ids(reviews["review_text"].tolist()), labels, weights.to(classifier.device),
                   classifier.tokenizer.pad_token_id)

    def forward(self, model: torch.nn.Module, rows: np.ndarray, device: torch.device) -> torch.Tensor:
        return model(**pad(self.token_ids, rows, self.pad_id, device))

    def loss(self, logits: torch.Tensor, rows: np.ndarray, device: torch.device) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(logits.float(), self.labels[rows].to(device), weight=self.weights)


def fit(reviews: pd.DataFrame, config: TrainConfig, device: torch.device) -> tuple[Classifier, dict[str, float]]:
    """The shared fine-tuning loop on the reviews for `config.sentiment_epochs` epochs, or until
    `config.sentiment_train_minutes` are spent."""
    seed_everything(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(config.base_model)
    classifier = Classifier(ReviewClassifier(config.base_model), tokenizer, config.max_length, device)
    stats = finetune(classifier.model, Reviews.of(reviews, classifier), config, device,
                     epochs=config.sentiment_epochs, minutes=config.sentiment_train_minutes)
    return classifier, {"train_samples_per_second": stats.samples_per_second,
                        "train_rows_seen_share": stats.rows_seen_share}


def macro_f1(rating: np.ndarray, label: np.ndarray) -> float:
    """Macro-F1 of sentiment labels (names) against the stars' sentiment."""
    return float(f1_score(star_sentiment(rating), pd.Index(SENTIMENTS).get_indexer(label), average="macro",
                          labels=range(len(SENTIMENTS)), zero_division=0))


def train(reviews: pd.DataFrame, cutoff: pd.Timestamp, config: TrainConfig, experiment: str, name: str) -> dict:
    """Fine-tune on the reviews before `cutoff`, judge on those after, log and register the
    classifier; it becomes the champion unless the champion is better on the same reviews."""
    earlier = reviews[reviews["reviewed_at"] < cutoff].reset_index(drop=True)
    later = reviews[reviews["reviewed_at"] >= cutoff].reset_index(drop=True)
    labels_seen = np.unique(star_sentiment(earlier["rating"].to_numpy("float64")))
    if len(earlier) < MIN_REVIEWS or len(labels_seen) < 2:
        reason = (f"{len(earlier)} review(s) with text before {cutoff.date()} in {len(labels_seen)} star class(es); "
                  f"fine-tuning needs {MIN_REVIEWS} in at least two. The sentiment lexicon scores the reviews.")
        log.info(reason)
        return {"trained": False, "reason": reason}
    device = pick_device()
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=f"review sentiment, cutoff {cutoff.date()}") as run:
        mlflow.log_params({**asdict(config), "task": "review_sentiment", "device": device.type,
                           "cutoff": str(cutoff.date()),
                           "train_reviews": len(earlier), "evaluation_reviews": len(later)})
        classifier, speed = fit(earlier, config, device)  # the loop logs its own metrics
        metrics = {**speed}
        slices = later_slices(later, config.gate_cutoffs)
        new_f1s = [macro_f1(part["rating"].to_numpy("float64"),
                            classifier.predict(part["review_text"].tolist())["sentiment_label"].to_numpy())
                   for part in slices]
        if new_f1s:
            metrics["macro_f1"] = float(np.mean(new_f1s))
            mlflow.log_metrics({"macro_f1": metrics["macro_f1"], "macro_f1_sd": float(np.std(new_f1s)),
                                **{f"macro_f1_slice_{i + 1}": f1 for i, f1 in enumerate(new_f1s)}})
        with tempfile.TemporaryDirectory() as tmp:
            model_uri = log_pyfunc(ReviewSentimentPyfunc(), classifier.save(Path(tmp) / "model"), REVIEW_SIGNATURE,
                                   REVIEW_CLASSIFIER)
    version = str(mlflow.register_model(model_uri, name).version)
    client = MlflowClient()
    client.set_model_version_tag(name, version, "cutoff", str(cutoff.date()))
    promoted, reason = gate(name, slices, new_f1s)
    if promoted:
        registry.promote(name, version, reason)
    client.set_model_version_tag(name, version, "gate_reason", reason)
    return {"trained": True, "version": version, "run_id": run.info.run_id, "champion": promoted, "reason": reason,
            "cutoff": str(cutoff.date()), **metrics}


def later_slices(later: pd.DataFrame, k: int) -> list[pd.DataFrame]:
    """The later reviews in `k` consecutive slices of about equal size, oldest first: each is
    a step further from what the classifier learnt, and their spread is the gate's noise."""
    ordered = later.sort_values("reviewed_at", kind="stable").reset_index(drop=True)
    return [ordered.iloc[rows] for rows in np.array_split(np.arange(len(ordered)), min(k, len(ordered))) if len(rows)]


def gate(name: str, slices: list[pd.DataFrame], new_f1s: list[float]) -> tuple[bool, str]:
    """Whether the new version takes over, and why: the champion, if any, is scored on the same
    slices of later reviews and `judge` compares the two."""
    current = registry.champion_version(name)
    champion_f1s = None
    if current is not None and new_f1s:
        champion = mlflow.pyfunc.load_model(f"models:/{name}/{current}")
        champion_f1s = [macro_f1(part["rating"].to_numpy("float64"),
                                 champion.predict(part[["review_text"]])["sentiment_label"].to_numpy())
                        for part in slices]
    return judge(new_f1s or None, champion_f1s, has_champion=current is not None)


def judge(new_f1s: list[float] | None, champion_f1s: list[float] | None, has_champion: bool) -> tuple[bool, str]:
    """The review classifier's rule: a new version takes over unless the champion's macro-F1 on
    the same slices of later reviews is higher by more than their noise (registry.compare, at
    least F1_TOLERANCE). A first version takes over, and so does one with no later reviews to
    judge on: the newest knows the most stars."""
    if not has_champion:
        return True, "first classifier"
    if not new_f1s or not champion_f1s:
        return True, "no later reviews to compare on; the newest classifier knows the most stars"
    versus = registry.compare(new_f1s, champion_f1s, F1_TOLERANCE)
    said = (f"macro-F1 {np.mean(new_f1s):.3f} on {len(new_f1s)} slice(s) of later reviews, "
            f"champion's {np.mean(champion_f1s):.3f}: {versus}")
    return (False, f"{said}: below the champion's by more than the noise") if versus.loses else (True, said)


def compare_with_lexicon(reviews: pd.DataFrame, name: str) -> dict:
    """On the reviews of the review_sentiment table written since the champion classifier's
    cutoff (reviews it never learnt from): macro-F1 of its labels and of the lexicon's against
    the stars. Logged to its run and tagged on its version."""
    version = registry.champion_version(name)
    if version is None:
        return {"classifier": None}
    client = MlflowClient()
    details = client.get_model_version(name, version)
    later = reviews[(reviews["reviewed_at"] >= pd.Timestamp(details.tags["cutoff"]))
                    & (reviews["sentiment_source"] == "classifier")]
    if later.empty:
        return {"classifier": version, "later_reviews": 0}
    rating = later["rating"].to_numpy("float64")
    result = {"macro_f1": macro_f1(rating, later["sentiment_label"].to_numpy()),
              "lexicon_macro_f1": macro_f1(rating, later["lexicon_label"].to_numpy())}
    for key, value in result.items():
        client.log_metric(details.run_id, f"later_reviews_{key}", value)
        client.set_model_version_tag(name, version, key, f"{value:.4f}")
    client.set_model_version_tag(name, version, "later_reviews", str(len(later)))
    return {"classifier": version, "later_reviews": len(later), **result}
