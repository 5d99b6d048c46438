"""Analysts read while the pipeline writes: a reader holding the analysts' database open and
another querying it in a loop see one run's data or the next, never an error or a mix; a run
killed with SIGKILL changes nothing they read, and the next run succeeds as if it had not been."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.conftest import clm, clm_env

pytestmark = pytest.mark.e2e
AS_OF = "2026-01-01"
# A reader in a loop until the stop file appears, each answer (or error) a JSON line: "held"
# keeps one connection open all along, "new" connects afresh for every query. They run in
# separate processes, as analysts do: DuckDB shares one open database between the connections
# of a process.
READER = """
import json, os, sys, time, duckdb
path, mode, out, stop = sys.argv[1:5]
QUERY = "select count(*), min(scored_at), max(scored_at) from customer_scores where as_of = '2026-01-01'"
held = duckdb.connect(path, read_only=True) if mode == "held" else None
with open(out, "w") as log:
    while not os.path.exists(stop):
        try:
            con = held or duckdb.connect(path, read_only=True)
            rows, first, last = con.execute(QUERY).fetchone()
            if held is None:
                con.close()
            log.write(json.dumps({"source": mode, "rows": rows, "first": str(first), "last": str(last)}) + "\\n")
        except Exception as error:
            log.write(json.dumps({"source": mode, "error": repr(error)}) + "\\n")
        log.flush()
        time.sleep(0.05)
"""


def scores_stamp(analysts: Path) -> str:
    with duckdb.connect(str(analysts), read_only=True) as con:
        return str(con.execute(f"select max(scored_at) from customer_scores where as_of = '{AS_OF}'").fetchone()[0])


def succeeded(path: Path, newer_than: float) -> bool:
    """The step record at `path` was written after `newer_than` and says the step succeeded."""
    try:
        return path.stat().st_mtime > newer_than and json.loads(path.read_text())["state"] == "success"
    except (FileNotFoundError, json.JSONDecodeError):
        return False


def wait_for(path: Path, newer_than: float, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not succeeded(path, newer_than):
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.5)


def test_readers_see_one_run_or_the_next_and_a_killed_run_changes_nothing(pipeline_home, tmp_path):
    home = tmp_path / "home"
    subprocess.run(["cp", "-a", str(pipeline_home), str(home)], check=True)
    analysts = home / "analytics.duckdb"
    old = scores_stamp(analysts)
    before = analysts.read_bytes()
    stop = tmp_path / "stop"
    readers = {mode: subprocess.Popen([sys.executable, "-c", READER, str(analysts), mode, str(tmp_path / f"{mode}.jsonl"),
                                       str(stop)]) for mode in ("held", "new")}

    # A run killed with its whole process group after it staged its scores, before publish.
    started = time.time()
    with (tmp_path / "killed.log").open("w") as log:
        killed = subprocess.Popen([str(Path(sys.executable).with_name("clm")), "run", "--as-of", AS_OF],
                                  env=clm_env(home), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_for(home / "runs" / AS_OF / "score.json", started, timeout=600)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    assert analysts.read_bytes() == before

    clm(home, "run", "--as-of", AS_OF)
    new = scores_stamp(analysts)
    time.sleep(0.5)
    stop.touch()
    assert all(reader.wait(timeout=60) == 0 for reader in readers.values())

    answers = [json.loads(line) for mode in readers for line in (tmp_path / f"{mode}.jsonl").read_text().splitlines()]
    assert len(answers) > 100
    assert [a for a in answers if "error" in a] == []
    assert all(a["first"] == a["last"] for a in answers)  # one run's scores, never a mix
    assert {a["last"] for a in answers if a["source"] == "held"} == {old}  # an open reader keeps its file
    seen = [a["last"] for a in answers if a["source"] == "new"]
    assert new != old and set(seen) == {old, new} and seen[-1] == new
    assert seen.index(new) > len(seen) - 1 - seen[::-1].index(old)  # old, then new, never back
    # The interrupted date's features are the uninterrupted run's (up to the last bits of
    # floating-point sums, which DuckDB adds up in parallel).
    query = "select * from customer_features order by customer_id"
    with duckdb.connect(str(analysts), read_only=True) as after, \
            duckdb.connect(str(pipeline_home / "analytics.duckdb"), read_only=True) as reference:
        pd.testing.assert_frame_equal(after.execute(query).df(), reference.execute(query).df(), rtol=1e-9)
        scores = f"select customer_id from customer_scores where as_of = '{AS_OF}' order by 1"
        assert after.execute(scores).fetchall() == reference.execute(scores).fetchall()
