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


SAYS = ("from datetime import date; from ml import runstatus, settings; from ml.progress import say; "
        "runstatus.step('score', 'see the log')(lambda as_of, s: (say('scoring at int8 (fp32 150, int8 430 customers/s)'), "
        "runstatus.report('scored 10 of 20 customers'), runstatus.report('scored 20 of 20 customers')))"
        "(date(2026, 1, 1), settings.load())")


def test_what_a_step_chose_is_printed_once_even_when_the_step_ends_between_two_looks(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLM_HOME", str(tmp_path))
    settings = settings_module.load()
    daily = subprocess.Popen([sys.executable, "-c", SAYS], env={**os.environ, "CLM_HOME": str(tmp_path)})
    assert dag_runs.follow(daily, settings, AS_OF, {}) == 0
    printed = capsys.readouterr().out.splitlines()
    # The step may end before `follow` first looks (then it prints no start and no progress).
    assert [line for line in printed if "scoring at" in line] == ["    scoring at int8 (fp32 150, int8 430 customers/s)"]
    assert printed[-1].startswith("  score done in")
    assert runstatus.read(settings, AS_OF)["score"].notes == ["scoring at int8 (fp32 150, int8 430 customers/s)"]
