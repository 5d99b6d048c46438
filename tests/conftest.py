"""Shared fixtures. Every test runs against real components in a throwaway CLM_HOME."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

# Airflow reads its home when first imported: keep this test session's away from ~/airflow.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="clm-test-airflow-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"

from ml.data.synthetic_shop import ShopConfig, generate_shop, write_shop  # noqa: E402

# Pseudonymises the test shops' emails (ml/data/pii.py); a real shop's key is generated per CLM_HOME.
PII_KEY = b"clm-test-key"
TINY = ShopConfig(customers=250, seed=7, start="2024-01-01", end="2025-12-31", products_per_category=5)
# Small enough for 2 CPU cores, large enough to learn something. One epoch bounds training, not
# a wall-clock budget: a budget stops after as many steps as the machine's load allows, and the
# tests compare runs (an interrupted run against an uninterrupted one) that must train alike.
TINY_TRAINING = {"max_length": 48, "batch_size": 32, "epochs": 1, "max_train_minutes": None, "sentiment_train_minutes": None}


def clm_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLM_", "AIRFLOW", "MLFLOW_"))}
    env.update({"CLM_HOME": str(home), "CLM_TRAIN_CONFIG": str(home / "train.json"), "HF_HUB_OFFLINE": "1"})
    return env


def clm(home: Path, *args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the real `clm` console command in its own process, as a user would."""
    completed = subprocess.run([str(Path(sys.executable).with_name("clm")), *args],
                               env={**clm_env(home), **(env or {})}, capture_output=True, text=True)
    if check and completed.returncode != 0:
        raise AssertionError(f"clm {' '.join(args)} failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
    return completed


def free_port() -> int:
    """A port nothing listens on at 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str, token: str | None = None, body: dict | None = None):
    """A JSON API's answer over real HTTP: GET, or POST of `body`, with a bearer token if given."""
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture()
def text_registry(tmp_path):
    """A fresh MLflow store with the experiment `classifiers`, for a text classifier's training;
    afterwards neither the store nor the experiment training set stays active."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.create_experiment("classifiers", artifact_location=(tmp_path / "artifacts").as_uri())
    yield "classifiers"
    mlflow.set_tracking_uri(None)
    mlflow.tracking.fluent._active_experiment_id = None
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)


@pytest.fixture(scope="session")
def tiny_shop(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("shop")
    write_shop(generate_shop(TINY), folder)
    return folder


@pytest.fixture(scope="session")
def pipeline_home(tmp_path_factory, tiny_shop) -> Path:
    """A CLM_HOME after one successful `clm run` through Airflow on the tiny shop."""
    home = tmp_path_factory.mktemp("clm_home")
    (home / "train.json").write_text(json.dumps(TINY_TRAINING))
    clm(home, "ingest", "folder", str(tiny_shop))
    clm(home, "run", "--as-of", "2026-01-01")
    return home
