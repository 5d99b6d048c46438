"""Review sentiment from the review's text: MiniLM fine-tuned on the shop's own star ratings.

The stars are labels every review already carries: 1-2 negative, 3 neutral, 4-5 positive. The
classifier learns from the reviews written before a cutoff (the scoring date minus the horizon)
and is judged by macro-F1 on the reviews written after it; the pipeline's `evaluate_sentiment`
step puts the sentiment lexicon's macro-F1 on the same reviews beside it. Every distinct review
text is scored once per model version into `build.review_sentiment_staged`; dbt joins it to the
reviews (the published `review_sentiment`) and rolls it up into the customer features.

A saved classifier is a folder: `encoder/` and `tokenizer/` in Hugging Face format, `head.pt`,
and `config.json` (the token length it was trained at).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow import MlflowClient
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema
from sklearn.metrics import f1_score
from transformers import AutoTokenizer

from ml.batching import autocast, length_buckets, pad, uses_bf16
from ml.features import star_sentiment
from ml.model import SENTIMENTS, ReviewClassifier, pick_device
from ml.registry import CHAMPION, champion_version
from ml.tracking import REQUIREMENTS, log_pyfunc
from ml.train import TrainConfig, make_optimizer, seed_everything
from ml.warehouse import BUILD

log = logging.getLogger(__name__)
# With fewer earlier reviews than this, or one star class only, there is nothing to fine-tune
# on: the lexicon stays in charge.
MIN_REVIEWS = 100
# A new classifier replaces the champion unless it is worse than this on the same later reviews.
F1_TOLERANCE = 0.01
STAGED = f"{BUILD}.review_sentiment_staged"
STAGED_COLUMNS = ("review_text varchar, negative double, neutral double, positive double, "
                  "sentiment_label varchar, sentiment_score double, model_version integer")


class Classifier:
    """A fine-tuned review classifier with its tokenizer, ready to score texts."""

    def __init__(self, model: ReviewClassifier, tokenizer, max_length: int, device: torch.device | None = None):
        self.device = device or pick_device()
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = 256 if self.device.type == "cuda" else 64

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]

    @torch.inference_mode()
    def probabilities(self, texts: list[str]) -> np.ndarray:
        """P(negative), P(neutral), P(positive) per text, in length-bucketed batches."""
        self.model.eval()
        token_ids = self.token_ids(texts)
        out = np.empty((len(texts), len(SENTIMENTS)), dtype="float64")
        for rows in length_buckets([len(t) for t in token_ids], self.batch_size):
            with autocast(self.device):
                logits = self.model(**pad(token_ids, rows, self.tokenizer.pad_token_id, self.device))
            out[rows] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return out

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


class ReviewSentimentPyfunc(mlflow.pyfunc.PythonModel):
    """The classifier behind MLflow's generic interface: review_text in, sentiment out."""

    def load_context(self, context) -> None:
        self.classifier = Classifier.load(Path(context.artifacts["model_dir"]))

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        return self.classifier.predict(model_input["review_text"].astype(str).tolist())


SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", "review_text")]),
    outputs=Schema([*(ColSpec("double", name) for name in SENTIMENTS), ColSpec("string", "sentiment_label"),
                    ColSpec("double", "sentiment_score")]),
)


def fit(reviews: pd.DataFrame, config: TrainConfig, device: torch.device) -> tuple[Classifier, dict[str, float]]:
    """Shuffled length-bucketed batches of the reviews for `config.sentiment_epochs` epochs or until
    `config.sentiment_train_minutes` is spent. Classes are weighted by their inverse
    frequency: most reviews are positive, and macro-F1 counts every class alike."""
    seed_everything(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(config.base_model)
    classifier = Classifier(ReviewClassifier(config.base_model), tokenizer, config.max_length, device)
    token_ids = classifier.token_ids(reviews["review_text"].tolist())
    labels = torch.tensor(star_sentiment(reviews["rating"].to_numpy("float64")), dtype=torch.long)
    counts = torch.bincount(labels, minlength=len(SENTIMENTS)).float()
    weights = torch.where(counts > 0, counts.sum() / (len(SENTIMENTS) * counts.clamp(min=1)), 0.0).to(device)
    model = classifier.model
    optimizer = make_optimizer(model, config)
    minutes = config.sentiment_train_minutes
    deadline = None if minutes is None else time.monotonic() + 60 * minutes
    generator = np.random.default_rng(config.seed)
    samples, started, step = 0, time.perf_counter(), 0
    model.train()
    for _ in range(config.sentiment_epochs):
        batches = length_buckets([len(t) for t in token_ids], config.batch_size)
        generator.shuffle(batches)
        for rows in batches:
            if deadline is not None and time.monotonic() >= deadline:
                break
            with autocast(device):
                logits = model(**pad(token_ids, rows, tokenizer.pad_token_id, device))
            loss = torch.nn.functional.cross_entropy(logits.float(), labels[rows].to(device), weight=weights)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            mlflow.log_metric("train_loss", loss.item(), step=step)
            samples, step = samples + len(rows), step + 1
    seconds = time.perf_counter() - started
    return classifier, {"train_samples_per_second": samples / max(seconds, 1e-9),
                        "train_rows_seen_share": min(samples / max(len(reviews), 1), 1.0)}


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
                           "bf16": uses_bf16(device), "cutoff": str(cutoff.date()),
                           "train_reviews": len(earlier), "evaluation_reviews": len(later)})
        classifier, speed = fit(earlier, config, device)
        metrics = {**speed}
        if len(later):
            predicted = classifier.predict(later["review_text"].tolist())["sentiment_label"].to_numpy()
            metrics["macro_f1"] = macro_f1(later["rating"].to_numpy("float64"), predicted)
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            model_uri = log_pyfunc(ReviewSentimentPyfunc(), classifier.save(Path(tmp) / "model"), SIGNATURE,
                                   REQUIREMENTS["transformer"])
    version = str(mlflow.register_model(model_uri, name).version)
    client = MlflowClient()
    client.set_model_version_tag(name, version, "cutoff", str(cutoff.date()))
    promoted, reason = gate(name, later, metrics.get("macro_f1"))
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, version)
    client.set_model_version_tag(name, version, "gate_reason", reason)
    return {"trained": True, "version": version, "run_id": run.info.run_id, "champion": promoted, "reason": reason,
            "cutoff": str(cutoff.date()), **metrics}


def gate(name: str, later: pd.DataFrame, new_f1: float | None) -> tuple[bool, str]:
    """Whether the new version takes over: it does unless the champion, scored on the same
    later reviews, has a macro-F1 higher by more than F1_TOLERANCE."""
    current = champion_version(name)
    if current is None:
        return True, "first classifier"
    if new_f1 is None:
        return True, "no later reviews to compare on; the newest classifier knows the most stars"
    champion = mlflow.pyfunc.load_model(f"models:/{name}/{current}")
    old_f1 = macro_f1(later["rating"].to_numpy("float64"),
                      champion.predict(later[["review_text"]])["sentiment_label"].to_numpy())
    if new_f1 < old_f1 - F1_TOLERANCE:
        return False, f"macro-F1 {new_f1:.3f} on later reviews, below the champion's {old_f1:.3f}"
    return True, f"macro-F1 {new_f1:.3f} on later reviews, champion's {old_f1:.3f}"


def score(texts: pd.Series, con, name: str) -> dict:
    """Score the distinct review texts the champion has not scored yet into STAGED; without a
    champion, empty it (the lexicon then scores every review)."""
    con.execute(f"create schema if not exists {BUILD}")
    con.execute(f"create table if not exists {STAGED} ({STAGED_COLUMNS})")
    version = champion_version(name)
    if version is None:
        con.execute(f"delete from {STAGED}")
        return {"model_version": None, "scored": 0, "texts": 0}
    con.execute(f"delete from {STAGED} where model_version <> ?", [int(version)])
    known = {row[0] for row in con.execute(f"select review_text from {STAGED}").fetchall()}
    new = [text for text in texts.dropna().unique().tolist() if text not in known]
    if new:
        model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
        scored = model.predict(pd.DataFrame({"review_text": new})).assign(review_text=new, model_version=int(version))
        con.register("scored_frame", scored)
        con.execute(f"insert into {STAGED} by name select * from scored_frame")
    total = con.execute(f"select count(*) from {STAGED}").fetchone()[0]
    return {"model_version": version, "scored": len(new), "texts": total}


def compare_with_lexicon(reviews: pd.DataFrame, name: str) -> dict:
    """On the reviews of the review_sentiment table written since the champion classifier's
    cutoff (reviews it never learnt from): macro-F1 of its labels and of the lexicon's against
    the stars. Logged to its run and tagged on its version."""
    version = champion_version(name)
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
