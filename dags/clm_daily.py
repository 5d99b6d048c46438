"""
### clm_daily: score every customer and publish, once a day

Builds the customer 360 in DuckDB with dbt, validates it with Great Expectations, scores every
customer with the registry's champion and publishes the results for analysts. It never trains:
`clm_training` does, weekly and whenever this DAG announces new training examples.

Each task records its outcome (task, error type, message, what to do) in
`CLM_HOME/runs/<as_of>/<task>.json`; `clm run` prints the failed one, and the whole run's log
is `CLM_HOME/logs/run_<as_of>.log`. Until `publish` succeeds, nothing in the analysts'
database (`clm info`) changes. The scoring date is the run's `as_of` param when given
(`clm run --as-of DATE`), else the end of its data interval, capped at the day after the last
valid order; a run for the same date rebuilds the same tables. Runs never overlap
(`max_active_runs=1`): DuckDB takes one writer.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset, chain, dag, task

from ml.run import steps
from ml.run.orchestration import TRAINING_EXAMPLES_ASSET, TaskRow, dag_arguments, dbt_model_rows, dbt_model_tasks, step_task

ANNOUNCE = TaskRow("announce_training_examples",
                   f"emits the Asset `{TRAINING_EXAMPLES_ASSET}`, which schedules `clm_training` (skipped when "
                   "nothing changed)")
PIPELINE = (steps.check_raw, steps.validate_raw, steps.score_reviews, steps.score_tickets, steps.build_features,
            steps.check_quarantine, steps.validate_features, steps.score, steps.recommend, steps.build_marts,
            steps.validate_marts, steps.publish)
TASKS = [*PIPELINE[:5], dbt_model_rows("build_features"), *PIPELINE[5:10], dbt_model_rows("build_marts"),
         *PIPELINE[10:], steps.training_examples_changed, ANNOUNCE]


@dag(
    dag_id="clm_daily",
    schedule="@daily",
    **dag_arguments(__doc__, TASKS, "Scoring date (YYYY-MM-DD); features use data strictly before it."),
)
def clm_daily():
    @task(task_id=ANNOUNCE.name, outlets=[Asset(TRAINING_EXAMPLES_ASSET)], execution_timeout=timedelta(minutes=1),
          doc_md=ANNOUNCE.does)
    def announce_training_examples() -> None:
        """Emits the Asset event on success; short-circuited when nothing changed."""

    # Everything but the step order is in the warehouse or the registry: chain() orders them.
    # After each dbt stage, its models as tasks (ml/run/orchestration.py dbt_model_tasks); the
    # next step waits for the stage itself too, which fails when anything in its build did.
    tasks = {step.__name__: step_task(step)() for step in PIPELINE}
    for stage, following in (("build_features", "check_quarantine"), ("build_marts", "validate_marts")):
        tasks[stage] >> dbt_model_tasks(stage) >> tasks[following]
    chain(*tasks.values(), step_task(steps.training_examples_changed, short_circuit=True)(),
          announce_training_examples())


clm_daily()
