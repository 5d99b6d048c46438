"""Two pipeline processes on one CLM_HOME: the second refuses at once and says who holds it."""

from __future__ import annotations

import pytest

from ml.run.lock import Busy, hold, hold_for_run, release_for_run, run_holding
from tests.conftest import clm


def test_a_second_pipeline_process_refuses_while_the_first_holds_the_home(tmp_path, tiny_shop):
    home = tmp_path / "home"
    with hold(home, "clm run --as-of 2026-01-01"):
        busy = clm(home, "ingest", "folder", str(tiny_shop), check=False)
        assert busy.returncode == 1 and "Traceback" not in busy.stderr
        assert "clm run --as-of 2026-01-01 (pid" in busy.stderr and "wait for it to finish" in busy.stderr
        assert not (home / "raw").exists()
    # Released: the same command now lands the shop.
    landed = clm(home, "ingest", "folder", str(tiny_shop))
    assert "orders" in landed.stdout and (home / "raw" / "orders.parquet").exists()


def test_a_scheduled_run_holds_the_home_until_it_ends_and_others_wait(tmp_path, tiny_shop):
    home = tmp_path / "home"
    running = {"clm_daily/scheduled__2026-01-01"}
    hold_for_run(home, "clm_daily/scheduled__2026-01-01", running.__contains__)
    hold_for_run(home, "clm_daily/scheduled__2026-01-01", running.__contains__)  # its next task goes on
    assert run_holding(home) == "clm_daily/scheduled__2026-01-01"

    busy = clm(home, "ingest", "folder", str(tiny_shop), check=False)
    assert busy.returncode == 1 and "Traceback" not in busy.stderr
    assert "the Airflow run clm_daily/scheduled__2026-01-01 is using" in busy.stderr and "pipeline.lease" in busy.stderr

    # Another run's task waits, and says why when it gives up...
    with pytest.raises(Busy, match="waited 0 s for CLM_HOME: the Airflow run clm_daily/scheduled__2026-01-01"):
        hold_for_run(home, "clm_training/scheduled__2026-01-04", running.__contains__, wait_seconds=0)
    # ...and takes over once Airflow no longer runs the holder (a killed scheduler).
    running.clear()
    hold_for_run(home, "clm_training/scheduled__2026-01-04", running.__contains__, wait_seconds=0)
    assert run_holding(home) == "clm_training/scheduled__2026-01-04"
    release_for_run(home, "clm_daily/scheduled__2026-01-01")  # not the holder: nothing changes
    assert run_holding(home) == "clm_training/scheduled__2026-01-04"
    release_for_run(home, "clm_training/scheduled__2026-01-04")
    assert run_holding(home) is None
    assert "orders" in clm(home, "ingest", "folder", str(tiny_shop)).stdout


def test_a_scheduled_run_waits_while_a_clm_command_holds_the_lock(tmp_path):
    with hold(tmp_path, "clm run --as-of 2026-01-01"), pytest.raises(Busy, match="clm run --as-of 2026-01-01 .pid"):
        hold_for_run(tmp_path, "clm_daily/scheduled__2026-01-01", lambda run: True, wait_seconds=0)
    assert run_holding(tmp_path) is None
