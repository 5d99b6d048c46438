"""The review sentiment classifier: the shared text classifier (ml/training/text_classifier.py)
fine-tuned on the shop's own star ratings, labels every review already carries: 1-2 negative,
3 neutral, 4-5 positive. The pipeline's `evaluate_sentiment` step puts the sentiment lexicon's
macro-F1 on the same later reviews beside it. Scoring the reviews is ml/actions/text_scores.py.
"""

from __future__ import annotations

import pandas as pd
from mlflow import MlflowClient

from ml.models.features import SENTIMENTS, star_sentiment
from ml.models.pyfunc import REVIEW_SIGNATURE, ReviewSentimentPyfunc
from ml.training import registry
from ml.training.config import TrainConfig
from ml.training.text_classifier import TextTask, macro_f1
from ml.training.text_classifier import train as train_text

REVIEWS = TextTask(
    name="review_sentiment", noun="reviews", labels=SENTIMENTS, text_column="review_text", time_column="reviewed_at",
    label_of=lambda reviews: star_sentiment(reviews["rating"].to_numpy("float64")),
    pyfunc=ReviewSentimentPyfunc, signature=REVIEW_SIGNATURE, predicted_column="sentiment_label",
    # With fewer earlier reviews than this, or one star class only, the lexicon stays in charge.
    min_texts=100, without="The sentiment lexicon scores the reviews.",
)


def train(reviews: pd.DataFrame, cutoff: pd.Timestamp, config: TrainConfig, experiment: str, name: str) -> dict:
    """Fine-tune on the reviews before `cutoff`, judge on those after, register (ml/training/text_classifier.py)."""
    return train_text(REVIEWS, reviews, cutoff, config, experiment, name)


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
    result = {"macro_f1": macro_f1(REVIEWS, later, later["sentiment_label"].to_numpy()),
              "lexicon_macro_f1": macro_f1(REVIEWS, later, later["lexicon_label"].to_numpy())}
    for key, value in result.items():
        client.log_metric(details.run_id, f"later_reviews_{key}", value)
        client.set_model_version_tag(name, version, key, f"{value:.4f}")
    client.set_model_version_tag(name, version, "later_reviews", str(len(later)))
    return {"classifier": version, "later_reviews": len(later), **result}
