from airflow.dag_processing.dagbag import DagBag

from ml.orchestration import TRAINING_EXAMPLES_ASSET
from ml.settings import PROJECT_DIR

DAILY_CHAIN = ["check_raw", "validate_raw", "score_reviews", "build_features", "check_quarantine", "validate_features",
               "score", "recommend", "build_marts", "validate_marts", "publish",
               "training_examples_changed", "announce_training_examples"]
TRAINING_CHAIN = ["check_raw", "validate_raw", "train_sentiment", "score_reviews", "build_features", "check_quarantine",
                  "validate_features", "evaluate_sentiment", "train", "register"]


def dags() -> dict:
    bag = DagBag(dag_folder=str(PROJECT_DIR / "dags"))
    assert bag.import_errors == {}
    return bag.dags


def test_two_dags_one_per_schedule():
    assert set(dags()) == {"clm_daily", "clm_training"}


def test_each_dag_chains_its_steps_in_order_with_docs_timeouts_and_no_overlap():
    for dag_id, expected in (("clm_daily", DAILY_CHAIN), ("clm_training", TRAINING_CHAIN)):
        dag = dags()[dag_id]
        assert [t.task_id for t in dag.topological_sort()] == expected
        for upstream, downstream in zip(expected, expected[1:], strict=False):
            assert dag.get_task(downstream).upstream_task_ids == {upstream}
        assert dag.max_active_runs == 1 and dag.doc_md and expected[-1] in dag.doc_md
        assert dag.description.startswith(f"{dag_id}: ")
        # A logical date before start_date runs no task at all: real histories go back to 1997 (CDNOW).
        assert dag.start_date.year <= 1997 and dag.catchup is False
        steps = [t for t in dag.tasks if not t.task_id.startswith(("training_examples", "announce"))]
        assert all(t.execution_timeout is not None for t in steps)
        assert all(t.on_failure_callback for t in dag.tasks)
        assert dag.get_task("validate_features").retries == 0  # the same input fails the same way
    assert dags()["clm_training"].get_task("train").retries == 1  # the MLflow store can blip


def test_the_daily_dag_announces_training_examples_and_the_training_dag_listens():
    daily, training = dags()["clm_daily"], dags()["clm_training"]
    assert [o.name for o in daily.get_task("announce_training_examples").outlets] == [TRAINING_EXAMPLES_ASSET]
    assert "train" not in daily.task_ids and "score" not in training.task_ids
    assert TRAINING_EXAMPLES_ASSET in repr(training.timetable.asset_condition)
    assert "weekly" in training.timetable.timetable.summary or "0 0 * * 0" in training.timetable.timetable.summary
