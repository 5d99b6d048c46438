"""
### clm_training: train every candidate, judge them, promote the best

Runs weekly, and whenever `clm_daily` announces new training examples (the Asset
`clm_training_examples`). It builds the features itself, so it needs nothing from a daily run.

Nothing analysts read changes here: the next `clm_daily` run scores with the new champion.
Each task records its outcome in `CLM_HOME/runs/<as_of>/<task>.json`; `clm train` prints the
failed one, and the run's log is `CLM_HOME/logs/train_<as_of>.log`.
"""

from __future__ import annotations

from airflow.sdk import Asset, chain, dag
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from ml.run import steps
from ml.run.orchestration import TRAINING_EXAMPLES_ASSET, dag_arguments, step_task

PREPARE = (steps.check_raw, steps.validate_raw, steps.train_sentiment, steps.train_intents, steps.score_reviews,
           steps.score_tickets, steps.build_features,
           steps.check_quarantine, steps.validate_features, steps.evaluate_sentiment)


@dag(
    dag_id="clm_training",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("@weekly", timezone="UTC"),
                                 assets=[Asset(TRAINING_EXAMPLES_ASSET)]),
    **dag_arguments(__doc__, [*PREPARE, steps.train, steps.register],
                    "Training date (YYYY-MM-DD): the examples are labelled up to it."),
)
def clm_training():
    # Only the candidates' URIs and metrics travel between tasks as data (train to register).
    trained = step_task(steps.train)()
    chain(*(step_task(step)() for step in PREPARE), trained, step_task(steps.register)(trained))


clm_training()
