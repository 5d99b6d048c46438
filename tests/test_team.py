"""The team deployment, run for real (`make team-test`): PostgreSQL holds Airflow's and MLflow's
metadata, Airflow runs as its four services on the LocalExecutor and MLflow as its server, each
started as docker-compose.yml starts it (tests/team.py). The scheduler runs the DAGs, each task
in its own process; the test reads what happened from Airflow's and MLflow's REST APIs and from
PostgreSQL itself."""

from __future__ import annotations

import json
import subprocess
import time
from urllib.parse import quote

import duckdb
import pytest

from tests.conftest import TINY, TINY_TRAINING, get_json
from tests.team import Team

pytestmark = [pytest.mark.team, pytest.mark.e2e]
AS_OF = "2026-01-01"
MODEL = "clm-customer-model"


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    root = tmp_path_factory.mktemp("team")
    (root / "train.json").write_text(json.dumps(TINY_TRAINING))
    deployment = Team(root, extra_env={"CLM_TRAIN_CONFIG": str(root / "train.json")})
    try:
        deployment.up()
        yield deployment
    finally:
        deployment.down()


def scheduled_runs(team: Team) -> dict[str, dict]:
    """Each DAG's first scheduled run, as the REST API lists it."""
    runs = team.airflow("dags/~/dagRuns?run_type=scheduled&limit=100")["dag_runs"]
    return {run["dag_id"]: run for run in runs}


def psql(team: Team, database: str, query: str) -> list[str]:
    done = subprocess.run(["psql", "-At", "-d", database, "-c", query], env=team.pg_env(), capture_output=True,
                          text=True, check=True)
    return done.stdout.split()


def test_the_scheduler_trains_then_runs_two_days_one_after_the_other_with_its_metadata_on_postgresql(team, tiny_shop):
    # Unpaused at creation, both DAGs' first scheduled runs start at once and, with no data
    # landed yet, stop at their first step with what to do: the step ran, so its process
    # reached the execution API (nothing was queued before the API server answered).
    deadline = time.monotonic() + 300
    while not ((runs := scheduled_runs(team)).keys() == {"clm_daily", "clm_training"}
               and all(r["state"] in ("success", "failed") for r in runs.values())):
        assert time.monotonic() < deadline, runs
        time.sleep(3)
    for dag_id, run in runs.items():
        states = team.task_states(dag_id, run["dag_run_id"])
        assert states["check_raw"] == "failed", (dag_id, states)
    record = json.loads(next((team.home / "runs").glob("*/check_raw.json")).read_text())
    assert "Land data first" in record["what_to_do"], record

    wait_for_lease(team, given_back_by="clm_")
    team.clm("ingest", "folder", str(tiny_shop))
    training = team.trigger("clm_training", AS_OF)
    assert team.wait_run("clm_training", training, within=1200) == "success", team.task_states("clm_training", training)
    champion = get_json(f"{team.mlflow}/api/2.0/mlflow/registered-models/alias?name={MODEL}&alias=champion")
    named = quote(f"name='{MODEL}'")
    versions = get_json(f"{team.mlflow}/api/2.0/mlflow/model-versions/search?filter={named}")
    assert champion["model_version"]["version"] in {v["version"] for v in versions["model_versions"]}

    # Two daily runs triggered at once: one waits for the other (DuckDB takes one writer).
    earlier, daily = team.trigger("clm_daily", "2025-12-31"), team.trigger("clm_daily", AS_OF)
    for run in (earlier, daily):
        assert team.wait_run("clm_daily", run, within=900) == "success", team.task_states("clm_daily", run)
    spans = [team.airflow(f"dags/clm_daily/dagRuns/{quote(run)}") for run in (earlier, daily)]
    assert spans[0]["end_date"] <= spans[1]["start_date"], spans
    with duckdb.connect(str(team.home / "analytics.duckdb"), read_only=True) as con:
        scored, version = con.execute("select count(*), max(model_version) from customer_scores "
                                      f"where as_of = '{AS_OF}'").fetchone()
        dates = [str(d) for (d,) in con.execute("select distinct as_of::date from customer_scores order by 1").fetchall()]
    assert scored == TINY.customers and str(version) == champion["model_version"]["version"]
    assert dates[-2:] == ["2025-12-31", AS_OF]

    # The metadata is PostgreSQL's: Airflow's runs and MLflow's versions are rows there.
    assert psql(team, "airflow", f"select state from dag_run where run_id = '{daily}'") == ["success"]
    assert psql(team, "mlflow", f"select count(*) from model_versions where name = '{MODEL}'") == [
        str(len(versions["model_versions"]))]
    # The backup docs/operations.md gives: a dump of each database that restores the registry.
    dump = team.root / "mlflow.dump"
    subprocess.run(["pg_dump", "-Fc", "-d", "mlflow", "-f", str(dump)], env=team.pg_env(), check=True)
    listed = subprocess.run(["pg_restore", "--list", str(dump)], capture_output=True, text=True, check=True).stdout
    assert "TABLE DATA public model_versions" in listed and "TABLE DATA public registered_model_aliases" in listed
    # Each task ran in a process of its own, none of them the scheduler's.
    tis = team.airflow(f"dags/clm_daily/dagRuns/{quote(daily)}/taskInstances?limit=200")["task_instances"]
    pids = {ti["pid"] for ti in tis if ti["state"] == "success" and ti["pid"]}
    assert len(pids) > 5 and team.processes["airflow-scheduler"].pid not in pids
    # The run gave CLM_HOME back; a training run its new examples started may hold it now.
    wait_for_lease(team, given_back_by=f"clm_daily/{daily}")


def wait_for_lease(team: Team, given_back_by: str, within: float = 60) -> None:
    """Until no run whose name starts with `given_back_by` holds CLM_HOME. A run's callback
    gives it back in the DAG processor, moments after the run ended."""
    lease, deadline = team.home / "pipeline.lease", time.monotonic() + within
    while lease.exists() and lease.read_text().strip().startswith(given_back_by):
        assert time.monotonic() < deadline, f"{lease.read_text()} did not give CLM_HOME back within {within:.0f} s"
        time.sleep(1)


def test_the_score_task_names_an_mlflow_server_that_is_down_and_retries_once_it_is_back(team):
    """MLflow's server stops before scoring starts (while dbt builds the features)."""
    run = team.trigger("clm_daily", AS_OF)
    wait_for_task(team, "clm_daily", run, "build_features")
    team.stop("mlflow")
    deadline = time.monotonic() + 600
    while team.task_states("clm_daily", run).get("score") != "up_for_retry":
        assert time.monotonic() < deadline and team.task_states("clm_daily", run).get("score") != "failed"
        time.sleep(3)
    record = json.loads((team.home / "runs" / AS_OF / "score.json").read_text())
    assert record["state"] == "failed" and record["error_type"] == "ConnectionError", record
    assert record["message"].startswith(f"MLflow's tracking server at {team.mlflow} did not answer"), record
    team.start("mlflow")
    assert team.wait_run("clm_daily", run, within=900) == "success", team.task_states("clm_daily", run)
    ti = team.airflow(f"dags/clm_daily/dagRuns/{quote(run)}/taskInstances/score")
    assert ti["state"] == "success" and ti["try_number"] == 2


def test_a_task_queued_before_the_api_server_answers_waits_for_it(tmp_path_factory):
    """The wrong order on purpose: the scheduler and DAG processor first, the API server 30 s
    after the first task was queued. With no data landed, the DAGs' first step fails the way it
    should ("Land data first"): its code ran, so its process reached the execution API."""
    deployment = Team(tmp_path_factory.mktemp("team_wrong_order"))
    try:
        deployment.up(order=("airflow-scheduler", "airflow-dag-processor"), wait=False)
        query = "select count(*) from task_instance where task_id = 'check_raw' and state in ('queued', 'running')"
        deadline = time.monotonic() + 300
        while psql(deployment, "airflow", query) == ["0"]:
            assert time.monotonic() < deadline, "no task was queued"
            time.sleep(2)
        time.sleep(30)
        deployment.start("airflow-apiserver")
        deployment.wait_healthy("airflow-apiserver")
        deadline = time.monotonic() + 300
        done = "select dag_id, state, try_number from task_instance where task_id = 'check_raw' and state in ('failed', 'success')"
        while len(psql(deployment, "airflow", done)) < 1:
            assert time.monotonic() < deadline, psql(deployment, "airflow", "select task_id, state from task_instance")
            time.sleep(2)
        record = json.loads(next((deployment.home / "runs").glob("*/check_raw.json")).read_text())
        assert "Land data first" in record["what_to_do"], record
        assert all(row.endswith("|1") for row in psql(deployment, "airflow", done))  # the first try ran
    finally:
        deployment.down()


def wait_for_task(team: Team, dag_id: str, run: str, task: str, within: float = 600) -> None:
    """Until `task` of the run is running (a failure when it ended before it was seen running)."""
    deadline = time.monotonic() + within
    while (state := team.task_states(dag_id, run).get(task)) != "running":
        assert state not in ("success", "failed", "upstream_failed"), f"{task} ended ({state}) before it was seen running"
        assert time.monotonic() < deadline, team.task_states(dag_id, run)
        time.sleep(1)


def published_stamp(team: Team) -> str:
    with duckdb.connect(str(team.home / "analytics.duckdb"), read_only=True) as con:
        return str(con.execute("select max(scored_at) from customer_scores").fetchone()[0])


def test_the_scheduler_killed_mid_run_is_started_again_and_the_run_ends_well(team):
    """SIGKILL to the scheduler and the task processes it started (its container killed);
    compose's restart policy starts it again; it resets the orphaned task and reruns it."""
    before = published_stamp(team)
    run = team.trigger("clm_daily", AS_OF)
    wait_for_task(team, "clm_daily", run, "build_features")
    restarts = team.restarts.get("airflow-scheduler", 0)
    killed = time.monotonic()
    team.kill("airflow-scheduler")
    assert published_stamp(team) == before  # analysts still read the last run's whole file
    assert team.wait_run("clm_daily", run, within=1200) == "success", team.task_states("clm_daily", run)
    print(f"the scheduler killed: the run ended well {time.monotonic() - killed:.0f} s later")
    assert team.restarts["airflow-scheduler"] == restarts + 1
    build = team.airflow(f"dags/clm_daily/dagRuns/{quote(run)}/taskInstances/build_features")
    assert build["state"] == "success" and build["try_number"] >= 2  # the killed try was rerun
    assert published_stamp(team) > before
    wait_for_lease(team, given_back_by=f"clm_daily/{run}")  # not left stuck


def test_postgresql_restarted_mid_run_fails_tasks_cleanly_or_not_at_all_and_the_next_run_succeeds(team):
    before = published_stamp(team)
    run = team.trigger("clm_daily", AS_OF)
    wait_for_task(team, "clm_daily", run, "build_features")
    restarted = time.monotonic()
    team.pg_ctl("restart", "-m", "fast", "-w")
    state = team.wait_run("clm_daily", run, within=1200)
    print(f"PostgreSQL restarted: the run ended {state} {time.monotonic() - restarted:.0f} s later; "
          f"services started again: {team.restarts}")
    if state == "failed":  # cleanly: nothing analysts read changed, and the next run succeeds
        assert published_stamp(team) == before
        run = team.trigger("clm_daily", AS_OF)
        assert team.wait_run("clm_daily", run, within=1200) == "success", team.task_states("clm_daily", run)
    assert published_stamp(team) > before
