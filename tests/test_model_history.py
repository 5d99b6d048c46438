"""What training leaves for analysts, on each engine: model_evaluation and model_curves are
appended per training run, keep their declared types, exist empty before a shop's first
training, and are published beside the run's other tables. The whole pipeline's rows are
checked against MLflow in tests/test_pipeline_e2e.py."""

from __future__ import annotations

import contextlib
from datetime import date

import pandas as pd
import pytest

from ml import settings as settings_module
from ml.data import warehouse
from ml.training import history
from ml.training.registry import Registration

AS_OF = date(2026, 1, 1)
CURVES = {"calibration": {"x": [0.1, 0.4, 0.8], "y": [0.05, 0.5, 0.9]},
          "cumulative_gain": {"x": [0.0, 0.5, 1.0], "y": [0.0, 0.8, 1.0]}}


def candidate(family: str, roc_auc: float | None, trained_at: str) -> dict:
    """A candidate as the train step hands it to register (an XCom: NaN travels as None)."""
    by_cutoff = {day: {"roc_auc": roc_auc, "holdout_rows": 120.0} for day in ("2025-08-01", "2025-09-01")}
    return {"family": family, "run_id": f"run-{family}", "model_uri": "models:/m-1", "holdout_as_of": "2025-09-01",
            "metrics": {"roc_auc": roc_auc, "brier": 0.2, "ece": 0.03, "lift_top10": 2.5, "spend_spearman": 0.4,
                        "roc_auc_sd": 0.01, "holdout_rows": 120.0},
            "cutoff_metrics": by_cutoff, "curves": CURVES, "trained_at": trained_at}


@contextlib.contextmanager
def opened(engine: str, tmp_path, monkeypatch):
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("CLM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLM_ENGINE", engine)
    with warehouse.opened(settings_module.load()) as wh:
        yield wh


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("spark", marks=[pytest.mark.slow, pytest.mark.spark])])
def test_each_training_run_adds_its_candidates_and_curves_and_publish_shows_them(engine, tmp_path, monkeypatch):
    with opened(engine, tmp_path, monkeypatch) as wh:
        wh.write_table(f"{warehouse.BUILD}.{warehouse.SCORES}",
                       pd.DataFrame({"customer_id": ["c1"], "as_of": [AS_OF]}))
        # Never trained: the tables are published empty, with their columns.
        counts = wh.publish(AS_OF, history.ensure(wh))
        assert counts["model_evaluation"] == counts["model_curves"] == 0
        columns, _ = wh.query("select * from model_evaluation")
        assert columns == list(history.TABLES["model_evaluation"])

        first = [candidate("lightgbm", 0.71, "2026-01-01T05:00:00"), candidate("bg_nbd", None, "2026-01-01T05:00:00")]
        added = history.record(wh, first, [Registration("m", "1", "lightgbm", "champion", "first champion"),
                                           Registration("m", "2", "bg_nbd", "bg_nbd", "not promoted")], "m")
        assert added == {"model_evaluation": 2, "model_curves": 12}
        second = [candidate("lightgbm", 0.72, "2026-02-01T05:00:00")]
        history.record(wh, second, [Registration("m", "3", "lightgbm", "challenger", "does not beat")], "m")
        counts = wh.publish(AS_OF, history.ensure(wh))
        assert counts["model_evaluation"] == 3 and counts["model_curves"] == 18

        columns, rows = wh.query("select trained_at, model_family, model_version, promoted, holdout_as_of, "
                                 "holdout_cutoffs, holdout_rows, roc_auc, brier, pr_auc from model_evaluation "
                                 "order by model_version")
        ours = pd.DataFrame(rows, columns=columns)
        assert ours["trained_at"].astype(str).tolist() == ["2026-01-01 05:00:00"] * 2 + ["2026-02-01 05:00:00"]
        assert ours["model_family"].tolist() == ["lightgbm", "bg_nbd", "lightgbm"]
        assert ours["model_version"].tolist() == [1, 2, 3] and ours["promoted"].tolist() == [True, False, False]
        assert ours["holdout_as_of"].astype(str).tolist() == ["2025-09-01"] * 3
        assert ours["holdout_cutoffs"].tolist() == [2] * 3 and ours["holdout_rows"].tolist() == [240] * 3
        assert ours["roc_auc"].tolist()[::2] == [0.71, 0.72] and pd.isna(ours["roc_auc"].iloc[1])
        assert (ours["brier"] == 0.2).all() and ours["pr_auc"].isna().all()  # not measured: NULL
        _, rows = wh.query("select curve, point, x, y from model_curves where model_version = 3 order by curve, point")
        assert rows == [("calibration", 0, 0.1, 0.05), ("calibration", 1, 0.4, 0.5), ("calibration", 2, 0.8, 0.9),
                        ("cumulative_gain", 0, 0.0, 0.0), ("cumulative_gain", 1, 0.5, 0.8),
                        ("cumulative_gain", 2, 1.0, 1.0)]
        _, kinds = wh.query("select typeof(e.trained_at), typeof(c.model_version), typeof(e.promoted), "
                            "typeof(e.holdout_as_of), typeof(c.point), typeof(c.x) "
                            "from model_curves as c join model_evaluation as e using (run_id) limit 1")
        assert [k.lower() for k in kinds[0]] == ["timestamp", "bigint", "boolean", "date", "int" if engine == "spark"
                                                 else "integer", "double"]
