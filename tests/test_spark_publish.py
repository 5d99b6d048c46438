"""Analysts read Spark's catalog while runs publish: a reader querying the views of `analytics`
in a loop sees one run's whole table or the next run's, never an error or a mix; a copy that
fails and a run killed with SIGKILL half way change nothing it reads, the next publish clears
what they left, and `restore` goes back one run.

Local mode's catalog is an embedded Derby metastore that one process opens at a time, so the
reader is a thread of the publishing process, on its Spark session (a cluster's shared
metastore lets readers be processes of their own; docs/scaling.md)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pytest

from ml import settings as settings_module
from ml.data.spark import SparkWarehouse, session

pytestmark = [pytest.mark.slow, pytest.mark.spark]

AS_OF = date(2026, 1, 1)
TABLES = ["customer_scores", "churn_alerts"]
ROOT = Path(__file__).resolve().parents[1]
# Each run's rows: the reader tells runs apart by their count and their scoring time.
ROWS = {1: 200_000, 2: 300_000, 3: 3_000_000, 4: 400_000}
ALERTS = 100
KILLED_PUBLISH = """
from ml import settings
from ml.data.spark import SparkWarehouse, session
from tests.test_spark_publish import AS_OF, TABLES, stage_run
with session(settings.load()) as spark:
    stage_run(spark, 3)
    print("staged", flush=True)
    SparkWarehouse(spark).publish(AS_OF, TABLES)
"""


def stamp(run: int) -> str:
    return f"2026-01-01 0{run}:00:00"


def stage_run(spark, run: int) -> None:
    """A run's tables in the build schema, as the daily steps leave them before publish."""
    spark.sql("create schema if not exists build")
    spark.range(ROWS[run]).selectExpr("cast(id as string) as customer_id", f"date'{AS_OF}' as as_of",
                                      f"timestamp'{stamp(run)}' as scored_at", "rand(7) as churn_probability") \
        .write.mode("overwrite").format("parquet").saveAsTable("build.customer_scores")
    spark.range(ALERTS).selectExpr("id + 1 as alert_rank", "cast(id as string) as customer_id",
                                   f"timestamp'{stamp(run)}' as scored_at") \
        .write.mode("overwrite").format("parquet").saveAsTable("build.churn_alerts")


def shows(run: int) -> set[tuple]:
    """What a reader of each table sees of run `run`."""
    return {("customer_scores", ROWS[run], stamp(run), stamp(run)), ("churn_alerts", ALERTS, stamp(run), stamp(run))}


def read(wh: SparkWarehouse) -> set[tuple]:
    answers = set()
    for table in TABLES:
        _, rows = wh.query(f"select count(*), min(scored_at), max(scored_at) from {table}")
        count, first, last = rows[0]
        answers.add((table, count, str(first), str(last)))
    return answers


@pytest.fixture
def spark_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("CLM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLM_ENGINE", "spark")
    return settings_module.load()


def test_a_reader_sees_one_run_or_the_next_and_failed_or_killed_runs_change_nothing(spark_settings, tmp_path):
    # Two runs publish while a reader queries in a loop; a third fails in its copy.
    with session(spark_settings) as spark:
        wh = SparkWarehouse(spark)
        stage_run(spark, 1)
        wh.publish(AS_OF, TABLES)
        seen, stop = [], threading.Event()

        def reader() -> None:
            while not stop.is_set():
                try:
                    seen.extend(read(wh))
                except Exception as error:
                    seen.append(repr(error))

        thread = threading.Thread(target=reader)
        thread.start()
        try:
            time.sleep(2)
            stage_run(spark, 2)
            wh.publish(AS_OF, TABLES)
            time.sleep(2)
            stage_run(spark, 4)
            with pytest.raises(Exception, match="no_such_table"):
                wh.publish(AS_OF, [*TABLES, "no_such_table"])
            time.sleep(1)
        finally:
            stop.set()
            thread.join()
        errors = [answer for answer in seen if isinstance(answer, str)]
        assert not errors, errors[:3]
        # Each table is one run's whole table; the views move one after the other (docs/scaling.md).
        assert set(seen) == shows(1) | shows(2), set(seen)
        assert set(seen[-2:]) == shows(2)
        assert wh.schemas() == wh.runs() and len(wh.runs()) == 2  # the failed copy is gone

    # A run killed (its whole process group, the JVM included) while it copies its tables.
    publishing = subprocess.Popen([sys.executable, "-c", KILLED_PUBLISH], cwd=ROOT, env=os.environ.copy(),
                                  stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert publishing.stdout.readline().strip() == "staged"
    warehouse_dir = spark_settings.spark_dir / "warehouse"
    before = {p.name for p in warehouse_dir.glob("analytics_*.db")}
    deadline = time.monotonic() + 120
    while not [p for p in warehouse_dir.glob("analytics_*.db/customer_scores") if p.parent.name not in before]:
        assert publishing.poll() is None and time.monotonic() < deadline, "the publish ended before it was killed"
        time.sleep(0.02)
    os.killpg(publishing.pid, signal.SIGKILL)
    publishing.wait()

    with session(spark_settings) as spark:
        wh = SparkWarehouse(spark)
        assert read(wh) == shows(2)
        killed = [s for s in wh.schemas() if s not in wh.runs()]
        assert len(killed) == 1 and len(wh.runs()) == 2
        stage_run(spark, 4)
        wh.publish(AS_OF, TABLES)
        assert read(wh) == shows(4)
        assert wh.schemas() == wh.runs() and len(wh.runs()) == 2 and killed[0] not in wh.schemas()
        assert wh.restore().startswith("the Spark schema analytics")
        assert read(wh) == shows(2)
