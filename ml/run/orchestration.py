"""The Airflow side of the pipeline's steps, shared by the two DAGs.

`clm_daily` (dags/clm_daily.py) and `clm_training` (dags/clm_training.py) run some of the
same steps (the raw checks and the feature build). Each step is a plain function of
ml/run/steps.py that declares its timeout, retries and what to do if it fails; here it becomes a
TaskFlow task named after it, so both DAGs run it the same way, and the DAGs' task tables are
made from the same declarations. This module only reads the run's scoring date and settings
and hands them over.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

log = logging.getLogger(__name__)

# The daily DAG announces new training examples with this Asset; the training DAG is
# scheduled on it (and weekly).
TRAINING_EXAMPLES_ASSET = "clm_training_examples"


def dag_arguments(doc_md: str, tasks: list, as_of_help: str) -> dict:
    """What both DAGs share: docs, the as_of param, no overlap, the failure callback. The DAG's
    doc is its module docstring with the table of `tasks` (task_table) after its heading and
    first paragraph; the heading is also the DAG's description, which the UI shows in its DAG list and
    details; the whole doc sits behind the book icon on the DAG's page."""
    import pendulum
    from airflow.sdk import Param

    heading, lead, *rest = doc_md.strip().split("\n\n", 2)
    doc = "\n\n".join([heading, lead, task_table(tasks), *rest])
    return {
        # Early enough for any shop's history (CDNOW is 1997); catchup=False keeps the scheduler
        # from backfilling it: that is done on purpose, with Airflow's own backfill.
        "start_date": pendulum.datetime(1990, 1, 1, tz="UTC"),
        "catchup": False,
        # DuckDB takes one writer at a time.
        "max_active_runs": 1,
        "doc_md": doc,
        "description": heading.lstrip("# "),
        "tags": ["clm"],
        "params": {"as_of": Param(None, type=["null", "string"], format="date", description=as_of_help)},
        "default_args": {"on_failure_callback": on_failure},
        # A scheduled run gives CLM_HOME back when it ends, whichever way (ml/run/lock.py).
        "on_success_callback": release_home,
        "on_failure_callback": release_home,
    }


@dataclass(frozen=True)
class TaskRow:
    """A row of a DAG's task table for a task that is not a pipeline step."""

    name: str
    does: str
    if_it_fails: str = ""


def task_table(tasks: list) -> str:
    """The Markdown table of a DAG's tasks, in order: pipeline steps (their `Declaration`:
    the docstring's first paragraph and what to do if it fails) and TaskRows."""
    rows = [getattr(task, "declaration", task) for task in tasks]
    lines = ["| task | what it does | if it fails |", "| --- | --- | --- |"]
    lines += [f"| `{row.name}` | {row.does} | {row.if_it_fails} |" for row in rows]
    return "\n".join(lines)


def scoring_date(context=None) -> date:
    """The run's scoring date (ml/run/dates.py): its `as_of` param when given (`clm run
    --as-of`), else the end of its data interval, capped at the day after the last valid order.
    The logical date stays the moment the run was made, so the UI shows real times."""
    from airflow.sdk import get_current_context

    from ml.run import dates
    from ml.settings import load

    context = context or get_current_context()
    requested = context["params"].get("as_of")
    moment = context.get("data_interval_end") or context.get("logical_date")
    return dates.scoring_date(load().raw_dir, date.fromisoformat(requested) if requested else None,
                  moment.date() if moment else None)


def hold_home() -> None:
    """Take CLM_HOME for this run before a task touches it (ml/run/lock.py): a no-op in `clm run`'s
    own runs, which hold the lock already; a scheduled run waits while another holds it."""
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowRuntimeError

    from ml.run.lock import LEASE_WAIT, hold_for_run
    from ml.settings import load

    context = get_current_context()

    def still_running(holder: str) -> bool:
        dag_id, _, run_id = holder.partition("/")
        try:
            return context["ti"].get_dagrun_state(dag_id, run_id) in {"queued", "running"}
        except AirflowRuntimeError:  # no such run any more
            return False

    hold_for_run(load().home, f"{context['dag'].dag_id}/{context['run_id']}", still_running,
                 wait_seconds=LEASE_WAIT.total_seconds())


def release_home(context) -> None:
    from ml.run.lock import release_for_run
    from ml.settings import load

    release_for_run(load().home, f"{context['dag'].dag_id}/{context['run_id']}")


def step_task(step, **task_arguments):
    """The TaskFlow task that runs pipeline `step` (a function of ml/run/steps.py) for the run's
    scoring date, named after it, with its declared timeout and retries; upstream results
    passed to it (XComArgs) reach the step as its further arguments. `short_circuit=True`
    makes a task whose falsy result skips what follows."""
    from airflow.sdk import task

    declared = step.declaration
    decorator = task.short_circuit if task_arguments.pop("short_circuit", False) else task

    @decorator(task_id=declared.name, retries=declared.retries, retry_delay=timedelta(minutes=2),
               execution_timeout=declared.timeout, doc_md=declared.does, **task_arguments)
    def run_step(*upstream):
        from ml.data.dbt_runner import DbtError
        from ml.settings import load

        hold_home()
        try:
            result = step(scoring_date(), load(), *upstream)
        except DbtError as error:
            _share_dbt_outcomes(declared.name, error.outcomes)
            raise
        _share_dbt_outcomes(declared.name, result)
        return result

    return run_step


# The steps that run one `dbt build` each; dbt_model_tasks shows their nodes as tasks.
DBT_STAGES = ("build_features", "build_marts")
DBT_OUTCOMES_KEY = "dbt_nodes"


def _share_dbt_outcomes(task_id: str, outcomes: dict | None) -> None:
    """A dbt stage's per-node outcomes, for its model tasks: an XCom of this run, pushed
    whether the build failed or not (a failed task returns no value)."""
    if task_id in DBT_STAGES:
        from airflow.sdk import get_current_context

        get_current_context()["ti"].xcom_push(key=DBT_OUTCOMES_KEY, value=outcomes)


def dbt_model_tasks(stage: str):
    """A task group named after dbt stage `stage` (build_features, build_marts) with one task
    per model and seed it builds, named after it and wired as its refs are. Each reports what
    the stage's build did to it: success, failure with dbt's error and the failed tests in its
    log, or skipped. They run whatever their upstreams did (`all_done`): a failed model still
    shows its children as skipped, as dbt did. Returns the group, to chain after the stage."""
    from airflow.sdk import TaskGroup, task

    from ml.data import dbt_graph, dbt_runner
    from ml.settings import load

    selector = {"build_features": dbt_runner.FEATURE_SELECTOR, "build_marts": dbt_runner.MARTS_SELECTOR}[stage]
    nodes = dbt_graph.select(dbt_graph.project_nodes(load().dbt_project_dir), selector)
    with TaskGroup(group_id=stage.removeprefix("build_"), tooltip=f"the dbt nodes {stage} builds") as group:
        tasks = {name: _model_task(stage, name, node.kind, task) for name, node in nodes.items()}
        for name, node in nodes.items():
            for parent in node.parents:
                if parent in tasks:
                    tasks[parent] >> tasks[name]
    return group


def dbt_model_rows(stage: str) -> TaskRow:
    """The task table's row for the model tasks of dbt stage `stage`."""
    return TaskRow(f"{stage.removeprefix('build_')}.<model>",
                   "one task per dbt model and seed of that build, wired as their `ref()`s: its status, time and "
                   "tests; a failed test's rule and example rows",
                   "the failed task names the model; its log has dbt's error")


def _model_task(stage: str, name: str, kind: str, task):
    @task(task_id=name, trigger_rule="all_done", retries=0, execution_timeout=timedelta(minutes=2),
          doc_md=f"dbt {kind} `{name}` and its tests, as `{stage}`'s build left them.")
    def report_node() -> None:
        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from ml.data import dbt_graph

        outcomes = get_current_context()["ti"].xcom_pull(task_ids=stage, key=DBT_OUTCOMES_KEY)
        state, lines = dbt_graph.report(name, outcomes)
        for line in lines:
            log.info(line)
        if state == "error":
            raise AirflowFailException(f"dbt {kind} {name} failed: " + "; ".join(lines[1:]))
        if state == "skipped":
            raise AirflowSkipException(lines[-1])

    return report_node()


def on_failure(context) -> None:
    """Say where a failed task's own account is: the step's record (error, what to do)."""
    from ml import runstatus
    from ml.settings import load

    folder = runstatus.run_dir(load(), scoring_date(context))
    log.error("task %s failed; its record (error and what to do) is %s/%s.json",
              context["task_instance"].task_id, folder, context["task_instance"].task_id)


# How `airflow dags test` marks where each task's lines begin and end in its output.
TASK_START = re.compile(r"\[DAG TEST\] running task <TaskInstance: (?P<dag>[^.\s]+)\.(?P<task>\S+) (?P<run>\S+) \[")
TASK_END = re.compile(r"\[DAG TEST\] end task task_id=(?P<task>\S+)")


def write_task_logs(run_log: Path, logs_dir: Path) -> list[Path]:
    """Each task's lines of an `airflow dags test` run, written where the Airflow UI reads a
    task's log (Airflow's default log_filename_template under its base_log_folder): `dags
    test` runs the tasks in its own process and writes their logs only to its output, so the UI
    would say "Log file not found". A task cut short (a killed run) keeps the lines it got."""
    written, current, lines = [], None, []

    def flush() -> None:
        path = (logs_dir / f"dag_id={current['dag']}" / f"run_id={current['run']}" / f"task_id={current['task']}"
                / "attempt=1.log")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(lines))
        written.append(path)

    for line in run_log.read_text(errors="replace").splitlines(keepends=True):
        if start := TASK_START.search(line):
            current, lines = start, []
        if current is None:
            continue
        lines.append(line)
        if (end := TASK_END.search(line)) and end["task"] == current["task"]:
            flush()
            current = None
    if current is not None:
        flush()
    return written
