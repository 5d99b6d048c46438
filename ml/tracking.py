"""MLflow plumbing: where runs go, and how a customer model is logged as a pyfunc."""

from __future__ import annotations

import importlib
from importlib.metadata import version
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from ml.features import NUMERIC_FEATURES, TEXT_COLUMNS
from ml.settings import Settings

EXPERIMENT = "clm"
# Tells MLflow 3's UI that the experiment holds model training runs, so it opens on them rather
# than on an empty GenAI traces page that asks for the experiment's type.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
PACKAGE_DIR = Path(__file__).resolve().parent
FAMILY_FILE = "family"
_COMMON = ("mlflow", "pandas", "numpy", "scikit-learn")
REQUIREMENTS = {"transformer": _COMMON + ("torch", "transformers", "tokenizers"),
                "lightgbm": _COMMON + ("lightgbm",),
                "bg_nbd": _COMMON,
                "blend": _COMMON + ("lightgbm",)}


def configure(settings: Settings) -> str:
    """Point MLflow at the settings' store and make sure the experiment keeps artifacts there."""
    mlflow.set_tracking_uri(settings.tracking_uri)
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        settings.artifact_root.mkdir(parents=True, exist_ok=True)
        mlflow.create_experiment(EXPERIMENT, artifact_location=settings.artifact_root.as_uri(), tags=EXPERIMENT_KIND)
    elif not EXPERIMENT_KIND.items() <= experiment.tags.items():  # made by an earlier release
        for key, value in EXPERIMENT_KIND.items():
            mlflow.MlflowClient().set_experiment_tag(experiment.experiment_id, key, value)
    return EXPERIMENT


class CustomerModelPyfunc(mlflow.pyfunc.PythonModel):
    """Every model family behind MLflow's generic interface: a DataFrame of customer_features
    rows (with the clv features) in; churn probability, expected orders and spend, value tier
    and the latest review's sentiment out. Works with `mlflow.pyfunc.load_model` and Spark UDFs."""

    def load_context(self, context) -> None:
        self.predictor = load_predictor(Path(context.artifacts["model_dir"]))

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        return self.predictor.predict(model_input)


SIGNATURE = ModelSignature(
    inputs=Schema(
        [ColSpec("string", "customer_id"), ColSpec("datetime", "as_of")]
        + [ColSpec("double", name, required=False) for name in NUMERIC_FEATURES]
        + [ColSpec("string", name, required=False) for name in TEXT_COLUMNS]
    ),
    outputs=Schema([ColSpec("double", "churn_probability"), ColSpec("double", "expected_orders"),
                    ColSpec("double", "expected_spend"), ColSpec("string", "value_tier"),
                    ColSpec("double", "review_sentiment", required=False)]),
)


# Each family's saved-model class, imported only when loaded: scoring LightGBM needs no torch.
FAMILIES = {"transformer": ("ml.predictor", "Predictor"), "lightgbm": ("ml.baselines", "GbmModel"),
            "bg_nbd": ("ml.baselines", "ClvModel"), "blend": ("ml.baselines", "BlendModel")}


def load_predictor(folder: Path):
    """The saved model of whichever family `folder` holds (its `family` file says which)."""
    family = (folder / FAMILY_FILE).read_text().strip()
    if family not in FAMILIES:
        raise ValueError(f"{folder} holds a model of family {family!r}, which this version of clm cannot load.")
    module, name = FAMILIES[family]
    return getattr(importlib.import_module(module), name).load(folder)


def log_customer_model(folder: Path, family: str) -> str:
    """Log a saved customer model folder of `family`; return the model URI."""
    (folder / FAMILY_FILE).write_text(family)
    return log_pyfunc(CustomerModelPyfunc(), folder, SIGNATURE, REQUIREMENTS[family])


def log_pyfunc(python_model: mlflow.pyfunc.PythonModel, folder: Path, signature: ModelSignature,
               packages: tuple[str, ...]) -> str:
    """Log a saved model folder as a pyfunc with its signature, its pinned requirements and the
    `ml` package as its code, so it loads where clm is not installed (a Spark UDF, another
    team's service); return the model URI."""
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=python_model,
        artifacts={"model_dir": str(folder)},
        signature=signature,
        code_paths=[str(PACKAGE_DIR)],
        pip_requirements=[f"{name}=={version(name).split('+')[0]}" for name in packages],
    )
    return info.model_uri
