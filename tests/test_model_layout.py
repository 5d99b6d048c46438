"""Models logged before ml/ moved into wings still load and score, and a model logged now ships
the models wing alone as its code, which loads and predicts where nothing else of clm is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cloudpickle
import mlflow
import numpy as np
import pandas as pd
import pytest

from ml.models.baselines import ClvModel
from ml.models.features import NUMERIC_FEATURES, TEXT_COLUMNS
from ml.models.pyfunc import CustomerModelPyfunc, ReviewSentimentPyfunc
from ml.training import tracking

FIXTURES = Path(__file__).parent / "fixtures"


def customers() -> pd.DataFrame:
    frame = pd.DataFrame(np.nan, index=range(3), columns=list(NUMERIC_FEATURES))
    frame["bgnbd_expected_orders"] = [2.0, 0.1, np.nan]
    frame["gg_expected_order_value"] = [30.0, 12.0, np.nan]
    for column in TEXT_COLUMNS:
        frame[column] = None
    return frame.assign(customer_id=["a", "b", "c"], as_of=pd.Timestamp("2026-01-01"))


def test_a_customer_model_logged_under_the_old_layout_loads_and_scores():
    model = mlflow.pyfunc.load_model(str(FIXTURES / "model_logged_by_clm_0_1"))
    assert isinstance(model.unwrap_python_model(), CustomerModelPyfunc)
    scores = model.predict(customers())
    assert scores["expected_orders"].round(6).tolist() == [2.0, 0.1, 0.2]  # the third has not bought: new_orders
    assert scores["expected_spend"].round(6).tolist() == [60.0, 1.2, 9.5]
    assert scores["churn_probability"].iloc[0] < scores["churn_probability"].iloc[1]


def test_a_review_classifier_pickled_under_the_old_layout_unpickles_to_its_new_home():
    assert b"ml.sentiment" in (FIXTURES / "review_pyfunc_by_clm_0_1.pkl").read_bytes()
    with (FIXTURES / "review_pyfunc_by_clm_0_1.pkl").open("rb") as handle:
        assert isinstance(cloudpickle.load(handle), ReviewSentimentPyfunc)


@pytest.mark.slow  # a fresh interpreter loads the logged model
def test_a_logged_model_ships_only_the_models_wing_and_predicts_without_the_rest_of_clm(tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        mlflow.set_experiment(experiment_id=mlflow.create_experiment("layout", (tmp_path / "artifacts").as_uri()))
        model = ClvModel(-1.2, 0.3, 0.8, 0.2, 9.5, [10.0, 40.0])
        with mlflow.start_run():
            uri = tracking.log_customer_model(model.save(tmp_path / "model"), ClvModel.family)
        local = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "downloaded")))
    finally:
        mlflow.set_tracking_uri(None)
    shipped = sorted(str(p.relative_to(local / "code")) for p in (local / "code").rglob("*.py"))
    assert "ml/__init__.py" in shipped and "ml/models/pyfunc.py" in shipped
    assert all(path == "ml/__init__.py" or path.startswith("ml/models/") for path in shipped), shipped

    # A process that cannot import the installed clm: only the shipped code is on its path.
    customers().to_parquet(tmp_path / "customers.parquet")
    script = ("import sys; sys.path = [p for p in sys.path if 'site-packages' in p or 'lib/python' in p]; "
              "import mlflow, pandas as pd; "
              f"m = mlflow.pyfunc.load_model({str(local)!r}); "
              "import ml; print(ml.__file__); "
              f"print(m.predict(pd.read_parquet({str(tmp_path / 'customers.parquet')!r}))['expected_orders'].round(6).tolist())")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    where, orders = done.stdout.strip().splitlines()[-2:]
    assert where.startswith(str(local / "code")) and orders == "[2.0, 0.1, 0.2]"
