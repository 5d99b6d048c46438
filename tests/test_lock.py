"""Two pipeline processes on one CLM_HOME: the second refuses at once and says who holds it."""

from __future__ import annotations

from ml.lock import pipeline_lock
from tests.conftest import clm


def test_a_second_pipeline_process_refuses_while_the_first_holds_the_home(tmp_path, tiny_shop):
    home = tmp_path / "home"
    with pipeline_lock(home, "clm run --as-of 2026-01-01"):
        busy = clm(home, "ingest", "folder", str(tiny_shop), check=False)
        assert busy.returncode == 1 and "Traceback" not in busy.stderr
        assert "clm run --as-of 2026-01-01 (pid" in busy.stderr and "wait for it to finish" in busy.stderr
        assert not (home / "raw").exists()
    # Released: the same command now lands the shop.
    landed = clm(home, "ingest", "folder", str(tiny_shop))
    assert "orders" in landed.stdout and (home / "raw" / "orders.parquet").exists()
