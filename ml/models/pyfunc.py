"""The model families behind MLflow's generic interface, and the one table that names them.

A logged customer model is a folder (the pyfunc's `model_dir` artifact) whose `family` file
says which class loads it. `FAMILIES` is the only place a family is named with its class and the
packages it needs to predict; training logs with it, scoring loads with it. A new family is one
line here and its class (with `fit`, `predict`, `save`, `load` and a `family` attribute).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from ml.models.features import NUMERIC_FEATURES, SENTIMENTS, TEXT_COLUMNS

FAMILY_FILE = "family"
_COMMON = ("mlflow", "pandas", "numpy", "scikit-learn")
_TEXT = ("torch", "transformers", "tokenizers")
# int8 scoring of the customer model exports it and runs it with ONNX Runtime (ml/models/onnx_int8.py).
_ONNX = ("onnxruntime", "onnx")


@dataclass(frozen=True)
class Family:
    """Where a family's saved-model class lives (imported only when loaded: scoring LightGBM
    needs no torch) and the packages, pinned at logging time, that it needs to predict."""

    module: str
    cls: str
    packages: tuple[str, ...]

    def loader(self):
        return getattr(importlib.import_module(self.module), self.cls)


FAMILIES = {
    "transformer": Family("ml.models.predictor", "Predictor", _COMMON + _TEXT + _ONNX),
    "lightgbm": Family("ml.models.baselines", "GbmModel", _COMMON + ("lightgbm",)),
    "bg_nbd": Family("ml.models.baselines", "ClvModel", _COMMON),
    "pareto_nbd": Family("ml.models.baselines", "ParetoModel", _COMMON),
    "blend": Family("ml.models.baselines", "BlendModel", _COMMON + ("lightgbm",)),
}
# The text classifiers (review sentiment, ticket intent) are models of their own registered
# names, not customer models.
TEXT_CLASSIFIER = Family("ml.models.text_classifier", "Classifier", _COMMON + _TEXT)


def load_predictor(folder: Path):
    """The saved model of whichever family `folder` holds (its `family` file says which)."""
    family = (folder / FAMILY_FILE).read_text().strip()
    if family not in FAMILIES:
        raise ValueError(f"{folder} holds a model of family {family!r}, which this version of clm cannot load.")
    return FAMILIES[family].loader().load(folder)


class CustomerModelPyfunc(mlflow.pyfunc.PythonModel):
    """Every model family behind MLflow's generic interface: a DataFrame of customer_features
    rows (with the clv features) in; churn probability, expected orders and spend, value tier
    and the latest review's sentiment out. Works with `mlflow.pyfunc.load_model` and Spark UDFs."""

    def load_context(self, context) -> None:
        self.predictor = load_predictor(Path(context.artifacts["model_dir"]))

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        return self.predictor.predict(model_input)


CUSTOMER_SIGNATURE = ModelSignature(
    inputs=Schema(
        [ColSpec("string", "customer_id"), ColSpec("datetime", "as_of")]
        + [ColSpec("double", name, required=False) for name in NUMERIC_FEATURES]
        + [ColSpec("string", name, required=False) for name in TEXT_COLUMNS]
    ),
    outputs=Schema([ColSpec("double", "churn_probability"), ColSpec("double", "expected_orders"),
                    ColSpec("double", "expected_spend"), ColSpec("string", "value_tier"),
                    ColSpec("double", "review_sentiment", required=False)]),
)


class ReviewSentimentPyfunc(mlflow.pyfunc.PythonModel):
    """The review classifier behind MLflow's generic interface: review_text in, sentiment out."""

    def load_context(self, context) -> None:
        self.classifier = TEXT_CLASSIFIER.loader().load(Path(context.artifacts["model_dir"]))

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        said = self.classifier.predict(model_input["review_text"].astype(str).tolist())
        return pd.DataFrame({**{name: said[name] for name in SENTIMENTS}, "sentiment_label": said["label"],
                             "sentiment_score": said["positive"] - said["negative"]})


REVIEW_SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", "review_text")]),
    outputs=Schema([*(ColSpec("double", name) for name in SENTIMENTS), ColSpec("string", "sentiment_label"),
                    ColSpec("double", "sentiment_score")]),
)


class TicketIntentPyfunc(mlflow.pyfunc.PythonModel):
    """The ticket intent classifier behind MLflow's generic interface: a message's text in, its
    intent, the intent's probability and every intent's out."""

    def load_context(self, context) -> None:
        self.classifier = TEXT_CLASSIFIER.loader().load(Path(context.artifacts["model_dir"]))

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        return self.classifier.predict(model_input["text"].astype(str).tolist()).rename(columns={"label": "intent"})


def intent_signature(intents: tuple[str, ...]) -> ModelSignature:
    return ModelSignature(
        inputs=Schema([ColSpec("string", "text")]),
        outputs=Schema([*(ColSpec("double", name) for name in intents), ColSpec("string", "intent"),
                        ColSpec("double", "confidence")]),
    )
