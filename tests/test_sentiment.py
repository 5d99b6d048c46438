"""The review sentiment classifier: real MiniLM fine-tuning on the tiny shop's stars, a real
MLflow registry, real DuckDB, and the real `clm` command to promote and roll back."""

from __future__ import annotations

from datetime import date

import mlflow
import numpy as np
import pandas as pd
import pytest

from ml.actions import text_scores
from ml.data import warehouse
from ml.data.synthetic_shop import LEAVING, OPENINGS
from ml.training import review_classifier
from ml.training.config import TrainConfig
from ml.training.registry import champion_version
from tests.conftest import TINY_TRAINING, clm

AS_OF = date(2026, 1, 1)
CUTOFF = pd.Timestamp("2025-10-03")


@pytest.fixture()
def registry(text_registry):
    return "review-sentiment-test"


@pytest.fixture()
def build_schema(tmp_path):
    return warehouse.DuckDBWarehouse(tmp_path / "warehouse.duckdb", tmp_path / "analytics.duckdb")


def staged_scores(reviews: pd.DataFrame, build_schema, registry: str) -> dict:
    """The score_reviews step's work: the champion scores the review texts it has not scored yet."""
    return text_scores.score(reviews["review_text"], build_schema, text_scores.REVIEW_SENTIMENT, registry,
                             champion_version(registry))


@pytest.mark.slow
def test_classifier_learns_the_stars_scores_each_text_once_a_worse_one_stays_out_and_clm_rolls_back(
        tiny_shop, registry, build_schema, tmp_path):
    reviews = warehouse.raw_reviews(tiny_shop, AS_OF)
    assert len(reviews) > review_classifier.REVIEWS.min_texts and (reviews["reviewed_at"] < pd.Timestamp(AS_OF)).all()
    trained = review_classifier.train(reviews, CUTOFF, TrainConfig(**TINY_TRAINING), "classifiers", registry)
    assert trained["trained"] and trained["champion"] and trained["macro_f1"] > 0.7

    first = staged_scores(reviews, build_schema, registry)
    assert first == {"model_version": "1", "scored": reviews["review_text"].nunique(),
                     "texts": reviews["review_text"].nunique()}
    assert staged_scores(reviews, build_schema, registry)["scored"] == 0
    staged = build_schema.read_table(text_scores.REVIEW_SENTIMENT.table.split(".")[1])
    probabilities = staged[["negative", "neutral", "positive"]].to_numpy()
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    assert staged["sentiment_score"].between(-1, 1).all()
    assert (staged["sentiment_label"] == np.array(["negative", "neutral", "positive"])[probabilities.argmax(1)]).all()
    opens_positive = staged["review_text"].str.startswith(OPENINGS["positive"])
    assert (staged.loc[opens_positive, "sentiment_label"] == "positive").mean() > 0.9

    # Through MLflow's generic interface, on a text no lexicon word marks as negative.
    model = mlflow.pyfunc.load_model(f"models:/{registry}@champion")
    said = model.predict(pd.DataFrame({"review_text": [f"{OPENINGS['negative'][2]} {LEAVING[0]}"]}))
    assert said["sentiment_label"].tolist() == ["negative"]

    # A classifier that never took a step is registered, but the champion stays.
    untrained = review_classifier.train(reviews, CUTOFF, TrainConfig(**{**TINY_TRAINING, "sentiment_train_minutes": 0}),
                                "classifiers", registry)
    assert untrained["version"] == "2" and not untrained["champion"] and "below the champion" in untrained["reason"]
    assert staged_scores(reviews, build_schema, registry)["model_version"] == "1"

    # Promoted by hand, then rolled back, through the real command (CLM_HOME's MLflow store is this test's).
    client = mlflow.MlflowClient()
    assert client.get_model_version(registry, "1").tags["champion_reason"] == "first classifier"
    review_model = {"CLM_SENTIMENT_MODEL_NAME": registry}
    clm(tmp_path, "promote", "2", "--model", "review", env=review_model)
    assert champion_version(registry) == "2"
    assert client.get_model_version(registry, "2").tags["replaced_champion"] == "1"
    assert "rolled back to version 1" in clm(tmp_path, "rollback", "--model", "review", env=review_model).stdout
    assert champion_version(registry) == "1"
    assert client.get_model_version(registry, "1").tags["champion_reason"] == "rolled back from version 2"


def test_too_few_reviews_leave_the_lexicon_in_charge(tiny_shop, registry, build_schema):
    reviews = warehouse.raw_reviews(tiny_shop, AS_OF).head(review_classifier.REVIEWS.min_texts - 1)
    skipped = review_classifier.train(reviews, CUTOFF, TrainConfig(**TINY_TRAINING), "classifiers", registry)
    assert not skipped["trained"] and "lexicon" in skipped["reason"]
    stale = pd.DataFrame({"review_text": ["stale"], "model_version": [7]})
    build_schema.write_table(text_scores.REVIEW_SENTIMENT.table, stale)
    assert staged_scores(reviews, build_schema, registry)["model_version"] is None
    assert not build_schema.has_table(text_scores.REVIEW_SENTIMENT.table)
