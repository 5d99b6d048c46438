"""
### clm_daily: score every customer and publish, once a day

Builds the customer 360 in DuckDB with dbt, validates it with Great Expectations, scores every
customer with the registry's champion and publishes the results for analysts. It never trains:
`clm_training` does, weekly and whenever this DAG announces new training examples.

| task | what it does | if it fails |
| --- | --- | --- |
| `check_raw` | a scheduled run first waits (up to 6 h) while another run or a `clm` command holds CLM_HOME; then: the landed raw tables exist and `orders` has rows | land data: `clm ingest folder DIR` |
| `validate_raw` | GX suites `expectations/raw_*.json` on a sample of each raw table | fix the export's columns |
| `score_reviews` | scores every new review text with `models:/clm-review-sentiment@champion` | promote another version, or delete the alias (the lexicon then scores) |
| `build_features` | `dbt build` of staging (bad rows to `quarantine_*`), intermediate, `customer_features`, `training_examples`, `review_sentiment`, `customer_products`, `products`, `campaign_effect` | the error names the failing model or test and example rows |
| `features.<model>` | one task per dbt model and seed of that build, wired as their `ref()`s: its status, time and tests; a failed test's rule and example rows | the failed task names the model; its log has dbt's error |
| `check_quarantine` | fails when a raw table loses more than `CLM_MAX_QUARANTINE_SHARE` (5%) of its rows | the error counts rows per rule; see `build.quarantine_<table>` |
| `validate_features` | GX suites on `customer_features` and `training_examples` | the error names the column, rule and example rows |
| `score` | scores all customers with `models:/<name>@champion`, in chunks of `CLM_SCORE_CHUNK_ROWS` (20,000), logging the rate and the time left | `clm rollback`, or `clm promote VERSION` |
| `recommend` | top-10 products per customer (repeat, co-purchase, popular); its recall@10 / NDCG@10 on the last H days logged to MLflow | |
| `build_marts` | `dbt build` of `customer_scores` (score history), `customer_segments`, `churn_alerts`, `next_best_action` (with its holdouts) and `recommendations` | the error names the failing model or test |
| `marts.<model>` | the same for each node of the marts build | |
| `validate_marts` | GX suites on `customer_segments` and this run's scores | |
| `publish` | writes every dbt model tagged `published` into a new analysts' database and renames it over `analytics.duckdb` | nothing analysts read changed before this task |
| `training_examples_changed` | whether `training_examples` differ from what the last training learnt from | |
| `announce_training_examples` | emits the Asset `clm_training_examples`, which schedules `clm_training` (skipped when nothing changed) | |

Each task records its outcome (task, error type, message, what to do) in
`CLM_HOME/runs/<as_of>/<task>.json`; `clm run` prints the failed one, and the whole run's log
is `CLM_HOME/logs/run_<as_of>.log`. Until `publish` succeeds, nothing in the analysts'
database (`clm info`) changes. The scoring date is the run's `as_of` param when given
(`clm run --as-of DATE`), else the end of its data interval; a run for the same date
rebuilds the same tables. Runs never overlap (`max_active_runs=1`): DuckDB takes one writer.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset, chain, dag, task

from ml.run.orchestration import TRAINING_EXAMPLES_ASSET, dag_arguments, dbt_model_tasks, step_task


@dag(
    dag_id="clm_daily",
    schedule="@daily",
    **dag_arguments(__doc__, "Scoring date (YYYY-MM-DD); features use data strictly before it."),
)
def clm_daily():
    @task.short_circuit(task_id="training_examples_changed", execution_timeout=timedelta(minutes=10))
    def training_examples_changed() -> bool:
        from ml.run import steps
        from ml.run.orchestration import hold_home, scoring_date
        from ml.settings import load

        hold_home()
        return steps.training_examples_changed(scoring_date(), load())

    @task(task_id="announce_training_examples", outlets=[Asset(TRAINING_EXAMPLES_ASSET)],
          execution_timeout=timedelta(minutes=1))
    def announce_training_examples() -> None:
        """Emits the Asset event on success; short-circuited when nothing changed."""

    # Everything but the step order is in the warehouse or the registry: chain() orders them.
    # After each dbt stage, its models as tasks (ml/run/orchestration.py dbt_model_tasks); the next
    # step waits for the stage itself too, which fails when anything in its build did.
    steps = {name: step_task(name)() for name in ("check_raw", "validate_raw", "score_reviews", "build_features",
                                                  "check_quarantine", "validate_features", "score", "recommend",
                                                  "build_marts", "validate_marts", "publish")}
    for stage, following in (("build_features", "check_quarantine"), ("build_marts", "validate_marts")):
        steps[stage] >> dbt_model_tasks(stage) >> steps[following]
    chain(*steps.values(), training_examples_changed(), announce_training_examples())


clm_daily()
