from airflow.dag_processing.dagbag import DagBag

from ml.settings import PROJECT_DIR

EXPECTED_CHAIN = ["check_raw", "validate_raw", "train_sentiment", "score_reviews", "build_features", "check_quarantine",
                  "validate_features", "evaluate_sentiment", "train",
                  "register", "score", "recommend", "build_marts", "validate_marts", "publish"]


def test_every_dag_imports_without_errors():
    bag = DagBag(dag_folder=str(PROJECT_DIR / "dags"))
    assert bag.import_errors == {}
    assert "clm_pipeline" in bag.dag_ids


def test_pipeline_chains_the_steps_in_order_with_docs_and_no_overlap():
    dag = DagBag(dag_folder=str(PROJECT_DIR / "dags")).dags["clm_pipeline"]
    assert [t.task_id for t in dag.topological_sort()] == EXPECTED_CHAIN
    for upstream, downstream in zip(EXPECTED_CHAIN, EXPECTED_CHAIN[1:], strict=False):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}
    assert dag.max_active_runs == 1 and "publish" in dag.doc_md
    # A logical date before start_date runs no task at all: real histories go back to 1997 (CDNOW).
    assert dag.start_date.year <= 1997 and dag.catchup is False
    assert dag.get_task("validate_features").retries == 0
    assert all(t.execution_timeout is not None for t in dag.tasks)
