"""What `clm run` prints while a DAG runs: each of its own steps as it starts and ends."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

from ml import runstatus
from ml import settings as settings_module
from ml.run import dag_runs

AS_OF = date(2026, 1, 1)
STEP = ("from datetime import date; from ml import runstatus, settings; "
        "runstatus.step('check_raw', 'land data')(lambda as_of, s: None)(date(2026, 1, 1), settings.load())")


def test_a_run_prints_its_own_steps_not_those_the_dates_training_run_left(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLM_HOME", str(tmp_path))
    settings = settings_module.load()
    runstatus.step("train", "see MLflow")(lambda as_of, s: None)(AS_OF, settings)  # the training run before
    already = dag_runs.printed_so_far(runstatus.read(settings, AS_OF))

    daily = subprocess.Popen([sys.executable, "-c", STEP], env={**os.environ, "CLM_HOME": str(tmp_path)})
    assert dag_runs.follow(daily, settings, AS_OF, already) == 0
    printed = capsys.readouterr().out
    assert "check_raw done in" in printed and "train" not in printed
