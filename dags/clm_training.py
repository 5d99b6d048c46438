"""
### clm_training: train every candidate, judge them, promote the best

Runs weekly, and whenever `clm_daily` announces new training examples (the Asset
`clm_training_examples`). It builds the features itself, so it needs nothing from a daily run.

| task | what it does | if it fails |
| --- | --- | --- |
| `check_raw` | a scheduled run first waits (up to 6 h) while another run or a `clm` command holds CLM_HOME; then: the landed raw tables exist and `orders` has rows | land data: `clm ingest folder DIR` |
| `validate_raw` | GX suites `expectations/raw_*.json` on a sample of each raw table | fix the export's columns |
| `train_sentiment` | fine-tunes the review sentiment classifier on the stars of reviews before as_of - H (skipped with too few reviews) | see the MLflow run |
| `score_reviews` | scores every new review text with the sentiment champion | |
| `build_features` | `dbt build` of the staging, intermediate and feature models, `training_examples` among them | the error names the failing model or test and example rows |
| `check_quarantine` | fails when a raw table loses more than `CLM_MAX_QUARANTINE_SHARE` (5%) of its rows | see `build.quarantine_<table>` |
| `validate_features` | GX suites on `customer_features` and `training_examples` | the error names the column, rule and example rows |
| `evaluate_sentiment` | macro-F1 of the classifier and of the lexicon on the reviews since its cutoff, logged to its run | |
| `train` | trains every candidate (LightGBM, BG/NBD + Gamma-Gamma, their blend, the transformer) on the same time-based split, logs each to MLflow | see the MLflow run |
| `register` | registers every candidate; the gate promotes the best to champion | see the versions' `gate_reason` tags in MLflow |

Nothing analysts read changes here: the next `clm_daily` run scores with the new champion.
Each task records its outcome in `CLM_HOME/runs/<as_of>/<task>.json`; `clm train` prints the
failed one, and the run's log is `CLM_HOME/logs/train_<as_of>.log`.
"""

from __future__ import annotations

from airflow.sdk import Asset, chain, dag
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from ml.run.orchestration import TRAINING_EXAMPLES_ASSET, dag_arguments, step_task


@dag(
    dag_id="clm_training",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("@weekly", timezone="UTC"),
                                 assets=[Asset(TRAINING_EXAMPLES_ASSET)]),
    **dag_arguments(__doc__, "Training date (YYYY-MM-DD): the examples are labelled up to it."),
)
def clm_training():
    # Only the candidates' URIs and metrics travel between tasks as data (train to register).
    trained = step_task("train")()
    chain(*(step_task(name)() for name in ("check_raw", "validate_raw", "train_sentiment", "score_reviews",
                                           "build_features", "check_quarantine", "validate_features",
                                           "evaluate_sentiment")), trained, step_task("register")(trained))


clm_training()
