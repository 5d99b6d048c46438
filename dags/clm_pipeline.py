"""
### clm: customer lifecycle pipeline

Builds the customer 360 in DuckDB with dbt, validates it with Great Expectations, fine-tunes
the customer model (logged and registered in MLflow), scores every customer with the
registry's champion and publishes the results for analysts, all in one transaction.

| task | what it does | if it fails |
| --- | --- | --- |
| `check_raw` | the landed raw tables exist and `orders` has rows | land data: `clm ingest folder DIR` |
| `validate_raw` | GX suites `expectations/raw_*.json` on a sample of each raw table | fix the export's columns |
| `train_sentiment` | fine-tunes the review sentiment classifier on the stars of reviews before as_of - H (skipped with too few reviews) | see the MLflow run |
| `score_reviews` | scores every new review text with `models:/clm-review-sentiment@champion` | |
| `build_features` | `dbt build` of staging (bad rows to `quarantine_*`), intermediate, `customer_features`, `training_examples`, `review_sentiment`, `customer_products`, `products`, `campaign_effect` | the error names the failing model or test and example rows |
| `check_quarantine` | fails when a raw table loses more than `CLM_MAX_QUARANTINE_SHARE` (5%) of its rows | the error counts rows per rule; see `build.quarantine_<table>` |
| `validate_features` | GX suites on `customer_features` and `training_examples` | the error names the column, rule and example rows |
| `evaluate_sentiment` | macro-F1 of the classifier and of the lexicon on the reviews since its cutoff, logged to its run | |
| `train` | trains every candidate (LightGBM, BG/NBD + Gamma-Gamma, the transformer) on the same time-based split, logs each to MLflow | see the MLflow run |
| `register` | registers every candidate; the gate promotes the best to champion | see the versions' `gate_reason` tags in MLflow |
| `score` | scores all customers with `models:/<name>@champion`, in chunks of `CLM_SCORE_CHUNK_ROWS` (20,000), logging the rate and the time left | |
| `recommend` | top-10 products per customer (repeat, co-purchase, popular); its recall@10 / NDCG@10 on the last H days logged to MLflow | |
| `build_marts` | `dbt build` of `customer_scores` (score history), `customer_segments`, `churn_alerts`, `next_best_action` (with its holdouts) and `recommendations` | the error names the failing model or test |
| `validate_marts` | GX suites on `customer_segments` and this run's scores | |
| `publish` | writes every dbt model tagged `published` into a new analysts' database and renames it over `analytics.duckdb` | nothing analysts read changed before this task |

Each task records its outcome (task, error type, message, what to do) in
`CLM_HOME/runs/<as_of>/<task>.json`; `clm run` prints the failed one. Until `publish`
succeeds, nothing in the analysts' database (`clm info`) changes. The scoring date is the run's `as_of`
param when given (`clm run --as-of DATE`), else the end of its data interval.
Runs never overlap (`max_active_runs=1`): DuckDB takes one writer at a time.
"""

from __future__ import annotations

from datetime import date, timedelta

import pendulum
from airflow.sdk import Param, chain, dag, get_current_context, task


def _as_of() -> date:
    context = get_current_context()
    requested = context["params"].get("as_of")
    if requested:
        return date.fromisoformat(requested)
    moment = context.get("data_interval_end") or context.get("logical_date") or pendulum.now("UTC")
    return moment.date()


def _settings():
    from ml.settings import load

    return load()


@dag(
    dag_id="clm_pipeline",
    schedule="@daily",
    # Early enough for any shop's history (CDNOW is 1997): a logical date before start_date
    # would make a run with no tasks. catchup=False keeps the scheduler from backfilling it.
    start_date=pendulum.datetime(1990, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["clm"],
    params={"as_of": Param(None, type=["null", "string"], format="date",
                           description="Scoring date (YYYY-MM-DD); features use data strictly before it.")},
    default_args={"retries": 0, "retry_delay": timedelta(minutes=2)},
)
def clm_pipeline():
    # Deterministic steps (checks, dbt, validation) do not retry: the same input fails the same
    # way. Steps that touch the MLflow store or a GPU retry once for transient faults. Every step
    # records its outcome under CLM_HOME/runs/<as_of>/ (ml/runstatus.py).

    @task(execution_timeout=timedelta(minutes=5))
    def check_raw() -> dict:
        from ml import pipeline

        return pipeline.check_raw(_as_of(), _settings())

    @task(execution_timeout=timedelta(minutes=30))
    def validate_raw() -> dict:
        from ml import pipeline

        return pipeline.validate_raw(_as_of(), _settings())

    @task(retries=1, execution_timeout=timedelta(hours=1))
    def train_sentiment() -> dict:
        from ml import pipeline

        return pipeline.train_sentiment(_as_of(), _settings())

    @task(retries=1, execution_timeout=timedelta(hours=1))
    def score_reviews() -> dict:
        from ml import pipeline

        return pipeline.score_reviews(_as_of(), _settings())

    @task(execution_timeout=timedelta(hours=2))
    def build_features() -> list:
        from ml import pipeline

        return pipeline.build_features(_as_of(), _settings())

    @task(execution_timeout=timedelta(minutes=10))
    def check_quarantine() -> dict:
        from ml import pipeline

        return pipeline.check_quarantine(_as_of(), _settings())

    @task(execution_timeout=timedelta(minutes=30))
    def validate_features() -> dict:
        from ml import pipeline

        return pipeline.validate_features(_as_of(), _settings())

    @task(retries=1, execution_timeout=timedelta(minutes=10))
    def evaluate_sentiment() -> dict:
        from ml import pipeline

        return pipeline.evaluate_sentiment(_as_of(), _settings())

    @task(retries=1, execution_timeout=timedelta(hours=4))
    def train() -> list:
        from ml import pipeline

        return pipeline.train_model(_as_of(), _settings())

    @task(retries=1, execution_timeout=timedelta(minutes=30))
    def register(candidates: list) -> list:
        from ml import pipeline

        return pipeline.register_model(_as_of(), _settings(), candidates)

    @task(execution_timeout=timedelta(hours=2))
    def score() -> dict:
        from ml import pipeline

        return pipeline.score_customers(_as_of(), _settings())

    @task(execution_timeout=timedelta(hours=1))
    def recommend() -> dict:
        from ml import pipeline

        return pipeline.recommend_products(_as_of(), _settings())

    @task(execution_timeout=timedelta(minutes=30))
    def build_marts() -> list:
        from ml import pipeline

        return pipeline.build_marts(_as_of(), _settings())

    @task(execution_timeout=timedelta(minutes=30))
    def validate_marts() -> dict:
        from ml import pipeline

        return pipeline.validate_marts(_as_of(), _settings())

    @task(retries=1, execution_timeout=timedelta(minutes=10))
    def publish() -> dict:
        from ml import pipeline

        return pipeline.publish(_as_of(), _settings())

    # Only the candidates' URIs and metrics travel between tasks as data; everything else
    # is in the warehouse or the registry, so the other steps are ordered with chain().
    trained = train()
    chain(check_raw(), validate_raw(), train_sentiment(), score_reviews(), build_features(), check_quarantine(),
          validate_features(), evaluate_sentiment(), trained)
    chain(register(trained), score(), recommend(), build_marts(), validate_marts(), publish())


clm_pipeline()
