from airflow.dag_processing.dagbag import DagBag

from ml.data import dbt_graph, dbt_runner
from ml.run.orchestration import TRAINING_EXAMPLES_ASSET
from ml.settings import PROJECT_DIR

DAILY_CHAIN = ["check_raw", "validate_raw", "score_reviews", "score_tickets", "build_features", "check_quarantine",
               "validate_features", "score", "recommend", "build_marts", "validate_marts", "publish",
               "training_examples_changed", "announce_training_examples"]
TRAINING_CHAIN = ["check_raw", "validate_raw", "train_sentiment", "train_intents", "score_reviews", "score_tickets",
                  "build_features", "check_quarantine", "validate_features", "evaluate_sentiment", "train", "register"]


def dags() -> dict:
    bag = DagBag(dag_folder=str(PROJECT_DIR / "dags"))
    assert bag.import_errors == {}
    return bag.dags


def test_two_dags_one_per_schedule():
    assert set(dags()) == {"clm_daily", "clm_training"}


def test_each_dag_chains_its_steps_in_order_with_docs_timeouts_and_no_overlap():
    for dag_id, expected in (("clm_daily", DAILY_CHAIN), ("clm_training", TRAINING_CHAIN)):
        dag = dags()[dag_id]
        steps = [t.task_id for t in dag.topological_sort() if "." not in t.task_id]  # not in a group
        assert steps == expected
        for upstream, downstream in zip(expected, expected[1:], strict=False):
            assert upstream in dag.get_task(downstream).upstream_task_ids
            assert {t for t in dag.get_task(downstream).upstream_task_ids if "." not in t} == {upstream}
        assert dag.max_active_runs == 1 and dag.doc_md and expected[-1] in dag.doc_md
        assert dag.description.startswith(f"{dag_id}: ")
        # A logical date before start_date runs no task at all: real histories go back to 1997 (CDNOW).
        assert dag.start_date.year <= 1997 and dag.catchup is False
        assert all(t.execution_timeout is not None for t in dag.tasks)
        assert all(t.on_failure_callback for t in dag.tasks)
        assert dag.get_task("validate_features").retries == 0  # the same input fails the same way
    assert dags()["clm_training"].get_task("train").retries == 1  # the MLflow store can blip


def test_the_daily_dag_announces_training_examples_and_the_training_dag_listens():
    daily, training = dags()["clm_daily"], dags()["clm_training"]
    assert [o.name for o in daily.get_task("announce_training_examples").outlets] == [TRAINING_EXAMPLES_ASSET]
    assert "train" not in daily.task_ids and "score" not in training.task_ids
    assert TRAINING_EXAMPLES_ASSET in repr(training.timetable.asset_condition)
    assert "weekly" in training.timetable.timetable.summary or "0 0 * * 0" in training.timetable.timetable.summary


def test_each_dbt_model_of_the_daily_run_is_a_task_wired_as_its_refs():
    daily = dags()["clm_daily"]
    nodes = dbt_graph.project_nodes(PROJECT_DIR / "dbt_project")
    for stage, group, selector, following in (
            ("build_features", "features", dbt_runner.FEATURE_SELECTOR, "check_quarantine"),
            ("build_marts", "marts", dbt_runner.MARTS_SELECTOR, "validate_marts")):
        selected = dbt_graph.select(nodes, selector)
        tasks = {t.task_id.split(".", 1)[1]: t for t in daily.tasks if t.task_id.startswith(f"{group}.")}
        assert set(tasks) == set(selected)
        for name, node in selected.items():
            parents = {f"{group}.{p}" for p in node.parents if p in selected}
            assert tasks[name].upstream_task_ids == (parents or {stage})
            assert tasks[name].trigger_rule == "all_done"  # reports its model whatever the build did
        # The next step waits for the build itself and for every model's task.
        leaves = {f"{group}.{name}" for name, t in tasks.items() if not t.downstream_task_ids - {following}}
        assert daily.get_task(following).upstream_task_ids == {stage} | leaves
    assert "features.int_customer_features_as_of" in daily.get_task("features.customer_features").upstream_task_ids
    assert "build_features" not in {t.task_id.split(".")[0] for t in dags()["clm_training"].tasks if "." in t.task_id}


def test_each_step_task_is_named_after_its_function_and_its_doc_row_comes_from_the_step():
    from ml.run import steps

    for dag in dags().values():
        for task in dag.tasks:
            step = getattr(steps, task.task_id, None)
            if step is None:
                continue  # a dbt model's task or the Asset announcement
            declared = step.declaration
            assert declared.name == task.task_id == step.__name__
            assert (task.execution_timeout, task.retries) == (declared.timeout, declared.retries)
            assert task.doc_md == declared.does
            assert f"| `{task.task_id}` | {declared.does} | {declared.if_it_fails} |" in dag.doc_md
    daily = dags()["clm_daily"].doc_md
    assert daily.index("`build_features`") < daily.index("`features.<model>`") < daily.index("`check_quarantine`")
