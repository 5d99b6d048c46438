"""MLflow plumbing: where runs go, and how a saved model is logged as a pyfunc.

A logged model carries as its code exactly the models wing (ml/models/ with ml/__init__.py),
which is all it needs to load and predict: it loads where clm is not installed (a Spark UDF,
another team's service) without the CLI, Airflow wiring or training code.
"""

from __future__ import annotations

import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path

import mlflow
from mlflow.models import ModelSignature

from ml.models.pyfunc import CUSTOMER_SIGNATURE, FAMILIES, FAMILY_FILE, CustomerModelPyfunc, Family
from ml.settings import Settings

EXPERIMENT = "clm"
# Tells MLflow 3's UI that the experiment holds model training runs, so it opens on them rather
# than on an empty GenAI traces page that asks for the experiment's type.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
PACKAGE_DIR = Path(__file__).resolve().parent.parent
MODELS_WING = "models"


def configure(settings: Settings) -> str:
    """Point MLflow at the settings' store and make sure the experiment keeps artifacts there."""
    mlflow.set_tracking_uri(settings.tracking_uri)
    try:
        experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    except mlflow.exceptions.MlflowException as error:
        raise unreachable(error) from None
    if experiment is None:
        settings.artifact_root.mkdir(parents=True, exist_ok=True)
        mlflow.create_experiment(EXPERIMENT, artifact_location=settings.artifact_root.as_uri(), tags=EXPERIMENT_KIND)
    elif not EXPERIMENT_KIND.items() <= experiment.tags.items():  # made by an earlier release
        for key, value in EXPERIMENT_KIND.items():
            mlflow.MlflowClient().set_experiment_tag(experiment.experiment_id, key, value)
    return EXPERIMENT


def unreachable(error: mlflow.exceptions.MlflowException) -> Exception:
    """A request to an MLflow server that does not answer as one plain sentence naming it
    (MLflow's own says "API request to ... failed with exception" and a page of urllib3); any
    other error as it is."""
    text = str(error).strip()
    if not text.startswith("API request to ") or " failed with exception " not in text:
        return error
    request = text.splitlines()[0].split(" failed with exception ")[0]
    return ConnectionError(f"MLflow's tracking server at {mlflow.get_tracking_uri()} did not answer ({request}). "
                           "Start it, or point MLFLOW_TRACKING_URI at where it runs.")


def log_customer_model(folder: Path, family: str) -> str:
    """Log a saved customer model folder of `family`; return the model URI."""
    (folder / FAMILY_FILE).write_text(family)
    return log_pyfunc(CustomerModelPyfunc(), folder, CUSTOMER_SIGNATURE, FAMILIES[family])


def log_pyfunc(python_model: mlflow.pyfunc.PythonModel, folder: Path, signature: ModelSignature,
               family: Family) -> str:
    """Log a saved model folder as a pyfunc with its signature, the family's pinned
    requirements and the models wing as its code; return the model URI."""
    with tempfile.TemporaryDirectory() as tmp:
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=python_model,
            artifacts={"model_dir": str(folder)},
            signature=signature,
            code_paths=[str(models_wing(Path(tmp)))],
            pip_requirements=[f"{name}=={version(name).split('+')[0]}" for name in family.packages],
        )
    return info.model_uri


def models_wing(into: Path) -> Path:
    """`into`/ml holding ml/__init__.py and ml/models/ (no caches): the code a logged model ships,
    importable as `ml.models` wherever MLflow puts it on the path."""
    package = into / "ml"
    shutil.copytree(PACKAGE_DIR / MODELS_WING, package / MODELS_WING, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PACKAGE_DIR / "__init__.py", package / "__init__.py")
    return package
