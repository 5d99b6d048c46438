"""`clm run`, `clm train` and `clm backfill` as real Airflow DAG runs (`airflow dags test`), so
what runs here is exactly what the scheduler runs: one after the other under CLM_HOME's lock,
each step printed as it starts and ends, the outcome read from the steps' own records
(ml/runstatus.py), and Airflow prepared (database, serialised DAGs) only when something changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from ml import runstatus
from ml.run.lock import HELD_ENV, hold
from ml.settings import Settings

DAILY, TRAINING = "clm_daily", "clm_training"
# The task whose success makes the run a success, and the log's name, per DAG.
LAST_TASK = {DAILY: "publish", TRAINING: "register"}
LOG_NAME = {DAILY: "run", TRAINING: "train"}


def first_training(settings: Settings, as_of: date) -> list[tuple[str, date]]:
    """The training run a first daily run needs: none while a model is champion."""
    from ml.training import registry, tracking

    tracking.configure(settings)
    return [(TRAINING, as_of)] if registry.champion_version(settings.model_name) is None else []


def run_dags(runs: list[tuple[str, date]], command: str, settings: Settings) -> int:
    """DAG runs one after the other under the pipeline's lock (`command` names it for whoever
    finds it taken); stop at the first that fails. 0 when every run succeeded."""

    with hold(settings.home, command) as lock:
        prepare_airflow(settings)
        for position, (dag_id, as_of) in enumerate(runs):
            if position == 0 or runs[position - 1][1] != as_of:  # the training and daily run of a date share it
                runstatus.clear(settings, as_of)
            if run_dag(dag_id, as_of, settings, lock) != 0:
                return 1
    return 0


def prepare_airflow(settings: Settings) -> None:
    """Migrate Airflow's database and store the DAGs there (what the UI shows) when Airflow,
    its database, the DAGs or the dbt project (the model tasks) changed since the last time:
    the two commands are too slow to run every time (docs/decisions/0014-airflow-prepared-only-when-changed.md)."""
    import hashlib
    from importlib.metadata import version

    from ml.data.dbt_runner import project_fingerprint

    package = Path(__file__).resolve().parents[1]
    sources = sorted(settings.dags_dir.glob("*.py")) + [package / "run" / "orchestration.py", package / "run" / "steps.py",
                                                        package / "data" / "dbt_graph.py"]
    key = hashlib.sha256("\0".join([version("apache-airflow"), settings.airflow_db,
                                     project_fingerprint(settings.dbt_project_dir),
                                     *(p.read_text() for p in sources)]).encode()).hexdigest()
    marker = settings.airflow_home / "clm_prepared"
    database = settings.airflow_db.removeprefix("sqlite:///")
    if marker.exists() and marker.read_text() == key and (database == settings.airflow_db or Path(database).exists()):
        return
    airflow(["db", "migrate"], settings, quiet=True)
    airflow(["dags", "reserialize"], settings, quiet=True)
    marker.write_text(key)


def run_dag(dag_id: str, as_of: date, settings: Settings, lock: int) -> int:
    """One DAG run through Airflow; its outcome read from the steps' records."""
    from ml.run.orchestration import write_task_logs

    print(f"running {dag_id} through Airflow for as_of={as_of} ...", flush=True)
    log_path = settings.home / "logs" / f"{LOG_NAME[dag_id]}_{as_of}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # The date's earlier run (training before a first daily run) left its steps' records in the
    # same folder: they are not this run's to print.
    already = printed_so_far(runstatus.read(settings, as_of))
    with log_path.open("w") as log:
        # The logical date is now (the default), so the UI shows when the run really ran; the
        # scoring date travels as the run's param.
        process = subprocess.Popen(
            ["airflow", "dags", "test", dag_id, "-c", json.dumps({"as_of": as_of.isoformat()})],
            env={**airflow_env(settings), HELD_ENV: "1"}, stdout=log, stderr=subprocess.STDOUT, pass_fds=(lock,),
        )
        returncode = follow(process, settings, as_of, already)
    write_task_logs(log_path, settings.airflow_home / "logs")
    statuses = runstatus.read(settings, as_of)
    failed = [s for s in statuses.values() if s.state == runstatus.FAILED]
    last = statuses.get(LAST_TASK[dag_id])
    if returncode != 0 or failed or last is None or last.state != runstatus.SUCCESS:
        outcome = "nothing analysts read was changed" if dag_id == DAILY else "the champion did not change"
        print(f"{dag_id} for {as_of} failed; {outcome}.", file=sys.stderr)
        for status in failed:
            print(status.describe(), file=sys.stderr)
        if not failed:
            finished = ", ".join(statuses) or "none"
            print(f"no step recorded a failure, but {LAST_TASK[dag_id]} did not run: Airflow failed a task outside "
                  f"its step (steps that finished: {finished}).", file=sys.stderr)
        print(f"task records: {runstatus.run_dir(settings, as_of)}  full log: {log_path}", file=sys.stderr)
        return 1
    print(f"{dag_id} for {as_of} succeeded (log: {log_path})")
    return 0


Printed = tuple[str, str, str | None, int]


def printed_so_far(statuses: dict[str, runstatus.StepStatus]) -> dict[str, Printed]:
    """What has been printed of each step: its start, state, progress and how many notes."""
    return {task: shown(status) for task, status in statuses.items()}


def shown(status: runstatus.StepStatus) -> Printed:
    return status.started_at, status.state, status.progress, len(status.notes)


def follow(process: subprocess.Popen, settings: Settings, as_of: date,
           printed: dict[str, Printed]) -> int:
    """Print each step as it starts and as it ends, with its duration, until the run ends; its
    exit status. The steps' own records say so (ml/runstatus.py), not Airflow's log."""
    from ml.progress import duration

    while True:
        finished = process.poll() is not None
        for task, status in runstatus.read(settings, as_of).items():
            seen = printed.get(task)
            printed[task] = shown(status)
            if seen == printed[task]:
                continue
            new = seen is None or seen[0] != status.started_at
            if new and status.state == runstatus.RUNNING:
                print(f"  {task} started", flush=True)
            for line in status.notes[0 if new else seen[3]:]:
                print(f"    {line}", flush=True)
            if status.state != runstatus.RUNNING:
                outcome = "done" if status.state == runstatus.SUCCESS else "FAILED"
                print(f"  {task} {outcome} in {duration(status.seconds)}", flush=True)
            elif status.progress and (new or seen[2] != status.progress):
                print(f"    {status.progress}", flush=True)
        if finished:
            return process.returncode
        time.sleep(1)


def airflow_env(settings: Settings) -> dict[str, str]:
    """Airflow starts `airflow` subprocesses by name: the venv's bin must lead PATH."""
    env = {**os.environ, **settings.env()}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def airflow(arguments: list[str], settings: Settings, quiet: bool = False) -> None:
    """An airflow command with clm's settings; a plain error when it fails."""
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    output = subprocess.DEVNULL if quiet else None
    completed = subprocess.run(["airflow", *arguments], env=airflow_env(settings), stdout=output, stderr=output)
    if completed.returncode != 0:
        raise RuntimeError(f"`airflow {' '.join(arguments)}` failed; run it by hand to see why.")
