"""The whole pipeline through Airflow (`airflow dags test`), dbt, GX, MLflow and torch, for real."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys

import duckdb
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient, set_tracking_uri

from ml.models.pyfunc import FAMILIES
from ml.training import history
from tests.conftest import TINY_TRAINING, clm

pytestmark = pytest.mark.e2e


def read(home, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(home / "analytics.duckdb"), read_only=True) as con:
        return con.execute(sql).df()


def test_every_customer_is_scored_once_with_a_probability(pipeline_home, tiny_shop):
    customers = pd.read_parquet(tiny_shop / "customers.parquet")
    scores = read(pipeline_home, "select * from analytics.customer_scores")
    assert len(scores) == len(customers) == scores["customer_id"].nunique()
    assert set(scores["customer_id"]) == set(customers["customer_id"].astype(str))
    assert scores["churn_probability"].between(0, 1).all()
    assert scores["churn_probability"].std() > 0
    assert (scores["expected_orders"] >= 0).all() and (scores["expected_spend"] >= 0).all()
    assert scores["value_tier"].isin(["low", "medium", "high"]).all()
    assert (scores["horizon_days"] == 90).all()
    assert (scores["as_of"].astype(str) == "2026-01-01").all()
    assert (scores["model_name"] == "clm-customer-model").all()
    # Every buyer has an expected next order date within the horizon; who never bought has none.
    features = read(pipeline_home, "select customer_id, frequency from analytics.customer_features")
    dated = scores.merge(features, on="customer_id")
    buyers = dated[dated["frequency"] > 0]
    days = (pd.to_datetime(buyers["expected_next_order_date"]) - pd.to_datetime(buyers["as_of"])).dt.days
    assert days.between(0, 90).all() and days.std() > 0
    assert dated.loc[dated["frequency"] == 0, "expected_next_order_date"].isna().all()


def test_every_family_is_a_registered_candidate_and_the_best_is_champion(pipeline_home):
    set_tracking_uri(f"sqlite:///{pipeline_home / 'mlflow.db'}")
    client = MlflowClient()
    # MLflow's UI opens the experiment on its training runs, not on GenAI traces.
    assert client.get_experiment_by_name("clm").tags["mlflow.experimentKind"] == "custom_model_development"
    versions = {v.tags["family"]: v for v in client.search_model_versions("name = 'clm-customer-model'")
                if v.tags.get("holdout_as_of")}
    assert set(versions) == {"transformer", "lightgbm", "bg_nbd", "pareto_nbd", "blend"}
    for family, version in versions.items():
        assert client.get_model_version_by_alias("clm-customer-model", family).tags["family"] == family
        run = client.get_run(version.tags["run_id"])
        assert 0.5 < run.data.metrics["holdout_roc_auc"] <= 1.0 and run.data.metrics["holdout_brier"] < 0.3
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
        assert artifacts == {"plots/roc.png", "plots/calibration.png", "plots/gain.png", "plots/tier_confusion.png"}
        for metric in ("holdout_pr_auc", "holdout_ece", "holdout_lift_top10", "holdout_spend_spearman",
                       "holdout_orders_poisson_deviance", "holdout_orders_pearson", "holdout_tier_macro_f1"):
            assert metric in run.data.metrics
        # The gate judged every family on each holdout cutoff: the mean is what it read.
        cutoffs = version.tags["holdout_cutoffs"].split(", ")
        assert len(cutoffs) >= 2 and cutoffs[-1] == version.tags["holdout_as_of"]
        per_cutoff = [run.data.metrics[f"holdout_roc_auc/{cutoff}"] for cutoff in cutoffs]
        assert run.data.metrics["holdout_roc_auc"] == pytest.approx(np.mean(per_cutoff))
        assert run.data.metrics["holdout_roc_auc_sd"] == pytest.approx(np.std(per_cutoff))
    assert "train_samples_per_second" in client.get_run(versions["transformer"].tags["run_id"]).data.metrics

    # The gate's rule, applied to the tags: the champion is the best candidate of the first run.
    from ml.training.registry import best
    metrics = {f: {"roc_auc": float(v.tags["holdout_roc_auc"]),
                   "orders_poisson_deviance": float(v.tags["holdout_orders_poisson_deviance"])}
               for f, v in versions.items()}
    champion = client.get_model_version_by_alias("clm-customer-model", "champion")
    first_run = {v.tags["family"]: v for v in sorted(client.search_model_versions("name = 'clm-customer-model'"),
                                                     key=lambda v: int(v.version))[:len(versions)]}
    assert champion.tags["family"] == best({f: metrics[f] for f in first_run}) or "beats" in champion.tags["gate_reason"]
    parent = client.get_run(versions["lightgbm"].tags["run_id"]).data.tags["mlflow.parentRunId"]
    comparison = pd.read_json(client.download_artifacts(parent, "comparison.json"), orient="split")
    assert sorted(set(comparison["model"])) == ["bg_nbd", "blend", "lightgbm", "pareto_nbd", "transformer"]
    assert sorted(set(comparison["cutoff"])) == sorted(cutoffs + ["mean"])  # each cutoff beside the mean
    # The next order date was judged against the naive one on the same cutoffs.
    timing = client.get_run(parent).data.metrics
    assert timing["next_order_mae_days"] > 0 and timing["naive_next_order_mae_days"] > 0

    scores = read(pipeline_home, "select distinct model_version, model_family from analytics.customer_scores")
    assert scores.to_dict("records") == [{"model_version": int(champion.version), "model_family": champion.tags["family"]}]



def test_every_candidates_holdout_metrics_and_curves_reach_analysts_as_mlflow_logged_them(pipeline_home):
    client = MlflowClient(f"sqlite:///{pipeline_home / 'mlflow.db'}")
    evaluation = read(pipeline_home, "select * from analytics.model_evaluation")
    # The fixture's one training run: a row per candidate, one of them made champion.
    assert sorted(evaluation["model_family"]) == sorted(FAMILIES)
    assert evaluation["trained_at"].nunique() == 1 and evaluation["promoted"].sum() == 1
    assert (evaluation["model_name"] == "clm-customer-model").all()
    for row in evaluation.itertuples():
        version = client.get_model_version("clm-customer-model", str(row.model_version))
        assert version.tags["family"] == row.model_family and version.tags["run_id"] == row.run_id
        assert ("champion_reason" in version.tags) == row.promoted  # crowned by this run's gate, or not
        run = client.get_run(row.run_id).data
        cutoffs = version.tags["holdout_cutoffs"].split(", ")
        assert str(row.holdout_as_of.date()) == run.params["holdout_as_of"] == cutoffs[-1]
        assert row.holdout_cutoffs == len(cutoffs)
        assert row.holdout_rows == sum(run.metrics[f"holdout_holdout_rows/{cutoff}"] for cutoff in cutoffs)
        for metric in history.METRICS:
            ours, logged = getattr(row, metric), run.metrics.get(f"holdout_{metric}", float("nan"))
            assert ours == logged or (np.isnan(ours) and np.isnan(logged)), f"{row.model_family} {metric}"
        assert not np.isnan([row.roc_auc, row.pr_auc, row.brier, row.ece, row.lift_top10, row.spend_spearman]).any()

    curves = read(pipeline_home, "select * from analytics.model_curves order by run_id, curve, point")
    assert set(curves["run_id"]) == set(evaluation["run_id"])
    for (run_id, curve), points in curves.groupby(["run_id", "curve"]):
        row = evaluation.set_index("run_id").loc[run_id]
        assert (points["model_version"] == row["model_version"]).all() and (points["model_family"] == row["model_family"]).all()
        assert (points["trained_at"] == row["trained_at"]).all()
        assert points["point"].tolist() == list(range(len(points)))
        assert points["x"].between(0, 1).all() and points["y"].between(0, 1).all()
        assert points["x"].is_monotonic_increasing
        if curve == "cumulative_gain":
            assert len(points) == 21 and points["y"].is_monotonic_increasing
            assert (points["x"].iloc[0], points["y"].iloc[0]) == (0.0, 0.0)
            assert (points["x"].iloc[-1], points["y"].iloc[-1]) == (1.0, 1.0)
        else:
            assert curve == "calibration" and 2 <= len(points) <= 10


def test_segments_features_and_sql_read_back(pipeline_home):
    segments = read(pipeline_home, "select * from analytics.customer_segments")
    features = read(pipeline_home, "select * from analytics.customer_features")
    assert len(segments) == len(features) == segments["customer_id"].nunique()
    buyers = segments[segments["frequency"] > 0]
    assert buyers["rfm_segment"].notna().all()
    assert segments["value_tier"].isin(["low", "medium", "high"]).all()
    assert segments["churn_probability"].between(0, 1).all()
    csv = clm(pipeline_home, "sql", "select count(*) as n from customer_scores", "--csv").stdout
    assert pd.read_csv(io.StringIO(csv))["n"].tolist() == [len(segments)]
    table = clm(pipeline_home, "sql", "select rfm_segment, count(*) as n from customer_segments group by 1").stdout
    assert "rfm_segment" in table and "rows)" in table


def test_every_review_has_the_classifiers_sentiment_and_it_beats_the_lexicon(pipeline_home, tiny_shop):
    reviews = read(pipeline_home, "select * from analytics.review_sentiment")
    raw = pd.read_parquet(tiny_shop / "reviews.parquet")
    assert len(reviews) == (raw["reviewed_at"] < pd.Timestamp("2026-01-01")).sum() == reviews["review_id"].nunique()
    assert (reviews["sentiment_source"] == "classifier").all() and reviews["sentiment"].between(-1, 1).all()
    assert reviews["lexicon_label"].notna().all()

    set_tracking_uri(f"sqlite:///{pipeline_home / 'mlflow.db'}")
    champion = MlflowClient().get_model_version_by_alias("clm-review-sentiment", "champion")
    assert (reviews["sentiment_model_version"] == int(champion.version)).all()
    # evaluate_sentiment compared both on the reviews written since the classifier's cutoff.
    assert int(champion.tags["later_reviews"]) > 10
    assert float(champion.tags["macro_f1"]) > float(champion.tags["lexicon_macro_f1"])

    # Rolled up: the customer's mean review sentiment is the mean of their reviews' scores.
    features = read(pipeline_home, "select customer_id, mean_review_sentiment from analytics.customer_features")
    expected = reviews.groupby("customer_id")["sentiment"].mean()
    rolled = features.set_index("customer_id")["mean_review_sentiment"].reindex(expected.index)
    assert np.allclose(rolled.to_numpy(), expected.to_numpy())
    segments = read(pipeline_home, "select review_sentiment_segment, count(*) as n from analytics.customer_segments "
                                   "group by 1")
    assert set(segments["review_sentiment_segment"]) == {"positive", "neutral", "negative", "no reviews"}


def test_sql_is_read_only(pipeline_home):
    failed = clm(pipeline_home, "sql", "drop table analytics.customer_scores", check=False)
    assert failed.returncode != 0 and "read-only" in failed.stderr.lower()
    assert len(read(pipeline_home, "select * from analytics.customer_scores")) > 0


def test_sql_answers_a_bad_query_in_one_plain_line_and_prints_nulls_and_dates(pipeline_home):
    unknown = clm(pipeline_home, "sql", "select * from customer_scorez", check=False)
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
    assert "customer_scorez does not exist" in unknown.stderr and "pg_tables" not in unknown.stderr
    assert "Tables you can query:" in unknown.stderr and "churn_alerts" in unknown.stderr
    syntax = clm(pipeline_home, "sql", "selec 1", check=False)
    assert syntax.returncode == 1 and len(syntax.stderr.strip().splitlines()) == 1 and "syntax error" in syntax.stderr
    shown = clm(pipeline_home, "sql", "select cast(null as double) as nothing, date '2026-01-01' as day").stdout
    assert "NULL" in shown and "nan" not in shown and "2026-01-01 " in shown and "00:00:00" not in shown
    wrong = clm(pipeline_home, "run", "--as-of", "01/02/2026", check=False)
    assert wrong.returncode == 2 and "YYYY-MM-DD" in wrong.stderr


def test_info_names_the_analysts_database(pipeline_home):
    info = clm(pipeline_home, "info").stdout
    analytics = next(line for line in info.splitlines() if line.startswith("analytics"))
    assert str(pipeline_home / "analytics.duckdb") in analytics


def test_no_raw_email_or_name_reaches_a_published_table(pipeline_home, tiny_shop):
    customers = pd.read_parquet(tiny_shop / "customers.parquet")
    emails = set(customers["email"].str.lower())
    names = set(customers["first_name"]) | set(customers["last_name"])
    with duckdb.connect(str(pipeline_home / "analytics.duckdb"), read_only=True) as con:
        tables = [name for (name,) in con.execute("select table_name from duckdb_tables()").fetchall()]
        assert "quarantine_customers" in tables and "customer_features" in tables
        for table in tables:
            frame = con.execute(f"select * from {table}").df()
            for column in frame.select_dtypes(include=["object", "string"]).columns:
                values = set(frame[column].dropna().astype(str))
                assert not values & names, f"{table}.{column} holds raw names"
                assert not any(e in v.lower() for v in values for e in emails), f"{table}.{column} holds raw emails"
            # A column that holds the keyed hash says so: an auditor scanning names must not read it as an address.
            assert "email" not in frame.columns, f"{table} names a hash `email`"
    # Tickets land with the addresses their customers wrote replaced.
    ticket_text = pd.read_parquet(pipeline_home / "raw" / "tickets.parquet")["text"]
    assert ticket_text.str.contains("[email]", regex=False).any()
    assert not any(e in text.lower() for text in ticket_text for e in emails)
    hashes = pd.read_parquet(pipeline_home / "raw" / "customers.parquet")["email"]
    assert hashes.str.fullmatch("[0-9a-f]{64}").all()  # HMAC-SHA256, keyed
    assert (pipeline_home / "pii.key").stat().st_mode & 0o777 == 0o600


def airflow_db(home, sql: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(home / "airflow" / "airflow.db") as con:
        return con.execute(sql, params).fetchall()


def test_first_run_trains_then_scores_and_runs_show_when_they_ran(pipeline_home):
    runs = airflow_db(pipeline_home, "select dag_id, logical_date, start_date, conf from dag_run order by start_date")
    assert [dag_id for dag_id, *_ in runs[:2]] == ["clm_training", "clm_daily"]
    for _, logical, started, conf in runs:
        # The scoring date is the run's param; the logical date is when the run was made.
        assert json.loads(conf) == {"as_of": "2026-01-01"} and logical[:4] == started[:4] == "2026"
    # The daily run found the examples the training run had just learnt from: nothing to announce.
    states = dict(airflow_db(pipeline_home, "select task_id, state from task_instance where dag_id = 'clm_daily'"))
    assert states["publish"] == "success" and states["announce_training_examples"] == "skipped"


def test_train_registers_every_family_again(pipeline_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(pipeline_home, home)
    before = len(MlflowClient(f"sqlite:///{home / 'mlflow.db'}").search_model_versions("name = 'clm-customer-model'"))
    out = clm(home, "train", "--as-of", "2026-01-01").stdout
    assert "clm_training for 2026-01-01 succeeded" in out and "clm_daily" not in out
    versions = MlflowClient(f"sqlite:///{home / 'mlflow.db'}").search_model_versions("name = 'clm-customer-model'")
    assert len(versions) == before + len(FAMILIES)  # one new version per family
    assert json.loads((home / "trained_on.json").read_text())["as_of"] == "2026-01-01"
    # Each training run's candidates are added to the history the next publish gives analysts.
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        runs = con.execute("select trained_at, count(*), max(model_version) from build.model_evaluation "
                           "group by 1 order by 1").fetchall()
    assert [n for _, n, _ in runs] == [len(FAMILIES)] * 2 and runs[-1][2] == max(int(v.version) for v in versions)


def published(home) -> dict[str, pd.DataFrame]:
    """Every table analysts read, in a fixed row order, without the moment each run scored."""
    with duckdb.connect(str(home / "analytics.duckdb"), read_only=True) as con:
        tables = [t for (t,) in con.execute("select table_name from information_schema.tables order by 1").fetchall()]
        frames = {t: con.execute(f"select * exclude (scored_at) from {t}" if t == "customer_scores" else
                                 f"select * from {t}").df() for t in tables}
    return {t: f.sort_values(list(f.columns)).reset_index(drop=True) for t, f in frames.items()}


def test_backfilled_days_equal_single_runs_and_a_rerun_changes_nothing(pipeline_home, tmp_path):
    # Four days up to the fixture's date (2026-01-01), across a year's end and a month of
    # training cutoffs (the first day's are a month behind the others').
    days = ["2025-12-29", "2025-12-30", "2025-12-31", "2026-01-01"]
    before = published(pipeline_home)
    single, backfilled = tmp_path / "single", tmp_path / "backfilled"
    shutil.copytree(pipeline_home, single)
    shutil.copytree(pipeline_home, backfilled)
    # The two homes are independent: they run side by side, one process each.
    singles = subprocess.Popen([sys.executable, "-c", "import sys\nfrom tests.conftest import clm\nfrom pathlib import Path\n"
                                f"for day in {days!r}:\n    clm(Path({str(single)!r}), 'run', '--as-of', day)"],
                               cwd=os.getcwd(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = clm(backfilled, "backfill", "--from", days[0], "--to", days[-1]).stdout
    assert singles.wait() == 0, singles.stdout.read()[-3000:]
    assert [line.split()[0] for line in out.splitlines() if line.startswith("clm_daily for ")] == ["clm_daily"] * 4
    assert [line.split()[2] for line in out.splitlines() if line.startswith("clm_daily for ")] == days

    ours, theirs = published(backfilled), published(single)
    assert ours.keys() == theirs.keys()
    for table in ours:
        pd.testing.assert_frame_equal(ours[table], theirs[table], obj=table)
    scores = ours["customer_scores"]
    assert sorted(scores["as_of"].dt.strftime("%Y-%m-%d").unique()) == days
    assert not scores.duplicated(["customer_id", "as_of"]).any()
    # Re-running 2026-01-01 rebuilt what the first run had built.
    first = scores[scores["as_of"] == "2026-01-01"].reset_index(drop=True)
    pd.testing.assert_frame_equal(first, before["customer_scores"].reset_index(drop=True))
    # Training cutoffs are the firsts of the months up to as_of - 90 days. The last training
    # (as of 2026-01-01) learnt from those up to 2025-10-01; 2025-12-29's end at 2025-09-01 and
    # are announced; from 2025-12-30 on the examples are those it learnt from: nothing to announce.
    events = airflow_db(backfilled, "select count(*) from asset_event e join asset a on a.id = e.asset_id "
                                    "where a.name = 'clm_training_examples'")
    assert events == [(1,)]


def rerun_with(home, shop, tmp_path, corrupt) -> tuple[subprocess.CompletedProcess, pd.DataFrame]:
    """Land a corrupted copy of the shop, run a later date, restore the shop; return the failed
    run and the scores analysts saw before it."""
    before = read(home, "select * from analytics.customer_scores order by customer_id, as_of")
    bad = tmp_path / "bad_shop"
    shutil.copytree(shop, bad)
    corrupt(bad)
    clm(home, "ingest", "folder", str(bad))
    try:
        return clm(home, "run", "--as-of", "2026-01-02", check=False), before
    finally:
        clm(home, "ingest", "folder", str(shop))


def test_corrupted_feature_fails_validation_and_keeps_previous_scores(pipeline_home, tiny_shop, tmp_path):
    items = pd.read_parquet(tiny_shop / "order_items.parquet")
    orders = pd.read_parquet(tiny_shop / "orders.parquet")
    victim = orders.loc[orders["order_id"] == items.loc[0, "order_id"], "customer_id"].item()

    def discount_above_price(folder):
        # An export bug no row rule catches: the discount exceeds the price it discounts.
        broken = items.copy()
        broken.loc[0, "discount"] = broken.loc[0, "unit_price"] * 50
        broken.to_parquet(folder / "order_items.parquet", index=False)

    failed, before = rerun_with(pipeline_home, tiny_shop, tmp_path, discount_above_price)

    assert failed.returncode == 1
    assert "task build_features failed (DbtError)" in failed.stderr
    assert "customer_features.discount_share" in failed.stderr
    assert f"customer_id={victim}" in failed.stderr
    status = json.loads((pipeline_home / "runs" / "2026-01-02" / "build_features.json").read_text())
    assert status["state"] == "failed" and status["error_type"] == "DbtError"
    assert "discount_share" in status["message"] and status["what_to_do"]
    assert not (pipeline_home / "runs" / "2026-01-02" / "publish.json").exists()
    after = read(pipeline_home, "select * from analytics.customer_scores order by customer_id, as_of")
    pd.testing.assert_frame_equal(before, after)

    # The grid shows the model whose test broke by name, with dbt's words in its task log.
    [(run_id,)] = airflow_db(pipeline_home, "select run_id from dag_run where dag_id = 'clm_daily' and conf like ? "
                                            "order by start_date desc limit 1", ('%2026-01-02%',))
    states = dict(airflow_db(pipeline_home, "select task_id, state from task_instance where dag_id = 'clm_daily' "
                                            "and run_id = ?", (run_id,)))
    assert states["build_features"] == states["features.customer_features"] == "failed"
    assert states["features.stg_shop__order_items"] == states["features.int_customer_features_as_of"] == "success"
    assert states["marts.customer_scores"] == "skipped"  # its build never ran
    assert states["check_quarantine"] == "upstream_failed"
    task_log = (pipeline_home / "airflow" / "logs" / "dag_id=clm_daily" / f"run_id={run_id}"
                / "task_id=features.customer_features" / "attempt=1.log").read_text()
    assert "test dbt_utils_expression_is_true" in task_log or "discount_share" in task_log
    assert f"customer_id={victim}" in task_log


def test_mostly_broken_export_is_quarantined_and_fails_before_anything_changes(pipeline_home, tiny_shop, tmp_path):
    def negative_amounts(folder):
        orders = pd.read_parquet(folder / "orders.parquet")
        orders.loc[orders.index[::5], "amount"] = -1.0
        orders.to_parquet(folder / "orders.parquet", index=False)

    failed, before = rerun_with(pipeline_home, tiny_shop, tmp_path, negative_amounts)

    assert failed.returncode == 1
    assert "task check_quarantine failed (ValueError)" in failed.stderr
    assert "Too much bad input" in failed.stderr and "negative_amount" in failed.stderr
    status = json.loads((pipeline_home / "runs" / "2026-01-02" / "check_quarantine.json").read_text())
    assert status["state"] == "failed" and "negative_amount" in status["message"]
    after = read(pipeline_home, "select * from analytics.customer_scores order by customer_id, as_of")
    pd.testing.assert_frame_equal(before, after)


FRESH_PROCESS = """
import importlib.util, json, sys
import pandas as pd
repo, tracking_uri, rows = sys.argv[1:]
# No trace of the repository: not on the path (the virtualenv's site-packages may live inside
# it), and not through the editable install's finder.
sys.path[:] = [p for p in sys.path if p not in ("", ".", repo) and (not p.startswith(repo) or "site-packages" in p)]
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f)]
assert importlib.util.find_spec("ml") is None, "ml is importable here; the test would prove nothing"
import mlflow
mlflow.set_tracking_uri(tracking_uri)
model = mlflow.pyfunc.load_model("models:/clm-customer-model@champion")
scores = model.predict(pd.read_parquet(rows))
print(json.dumps({"rows": len(scores), "columns": list(scores.columns), "ml_from": sys.modules["ml"].__file__,
                  "in_range": bool(scores["churn_probability"].between(0, 1).all())}))
"""


def test_the_champion_loads_and_scores_where_clm_is_not_installed(pipeline_home, tmp_path):
    from ml.models.clv import with_clv_features
    from ml.models.features import model_input
    from ml.settings import PROJECT_DIR

    rows = tmp_path / "rows.parquet"
    features = with_clv_features(read(pipeline_home, "select * from analytics.customer_features"), 90)
    model_input(features.head(25)).to_parquet(rows)
    completed = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(PROJECT_DIR), f"sqlite:///{pipeline_home / 'mlflow.db'}", str(rows)],
        cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["rows"] == 25 and result["in_range"]
    assert result["columns"] == ["churn_probability", "expected_orders", "expected_spend", "value_tier",
                                 "review_sentiment"]
    assert not result["ml_from"].startswith(str(PROJECT_DIR))  # the model's own copy of the code


def test_promote_and_rollback_move_the_champion_alias(pipeline_home):
    set_tracking_uri(f"sqlite:///{pipeline_home / 'mlflow.db'}")
    client = MlflowClient()
    versions = sorted(int(v.version) for v in client.search_model_versions("name = 'clm-customer-model'"))
    assert len(versions) >= 2  # the first run and the idempotency re-run each registered one
    clm(pipeline_home, "promote", str(versions[0]))
    clm(pipeline_home, "promote", str(versions[-1]))
    assert int(client.get_model_version_by_alias("clm-customer-model", "champion").version) == versions[-1]
    out = clm(pipeline_home, "rollback").stdout
    assert f"rolled back to version {versions[0]}" in out
    assert int(client.get_model_version_by_alias("clm-customer-model", "champion").version) == versions[0]
    missing = clm(pipeline_home, "promote", "999", check=False)
    assert missing.returncode == 1 and "has no version 999" in missing.stderr


def test_every_column_analysts_read_is_documented(pipeline_home):
    out = clm(pipeline_home, "docs").stdout
    assert "dbt data dictionary" in out and "GX Data Docs" in out
    target = pipeline_home / "dbt" / "target"
    # One file that opens from disk: the manifest and catalog are inside it, nothing is fetched.
    page = (target / "static_index.html").read_text()
    assert str(target / "static_index.html") in out and "churn_probability" in page
    assert '"MANIFEST.JSON INLINE DATA"' not in page and '"CATALOG.JSON INLINE DATA"' not in page
    catalog = json.loads((target / "catalog.json").read_text())["nodes"]
    manifest = json.loads((target / "manifest.json").read_text())["nodes"]
    published = [n["name"] for n in manifest.values() if "published" in n["tags"] and n["resource_type"] == "model"]
    assert {"customer_features", "training_examples", "customer_segments", "customer_scores"} <= set(published)
    # The page names them where analysts read them: the analysts' database, not the warehouse.
    for name in ("customer_scores", "customer_features"):
        assert json.dumps(f'"analytics"."main"."{name}"')[1:-1] in page  # as the page inlines it
    for name in published:
        columns = {c.lower() for c in catalog[f"model.clm.{name}"]["columns"]}
        described = {c for c, spec in manifest[f"model.clm.{name}"]["columns"].items() if spec["description"]}
        if name.startswith("quarantine_"):
            assert "rule" in described
        else:
            assert columns <= described, f"{name} lacks descriptions for {sorted(columns - described)}"


def test_a_shop_with_only_an_order_log_gets_scored(tmp_path, tiny_shop):
    home, orders_only = tmp_path / "home", tmp_path / "orders_only"
    orders_only.mkdir()
    shutil.copy(tiny_shop / "orders.parquet", orders_only / "orders.parquet")
    home.mkdir()
    (home / "train.json").write_text(json.dumps(TINY_TRAINING))
    clm(home, "ingest", "folder", str(orders_only))
    clm(home, "run", "--as-of", "2026-01-01")
    scores = read(home, "select * from analytics.customer_scores")
    buyers = pd.read_parquet(tiny_shop / "orders.parquet")["customer_id"].astype(str)
    assert set(scores["customer_id"]) == set(buyers)
    assert scores["churn_probability"].between(0, 1).all()
    assert scores["review_sentiment"].isna().all()
    features = read(home, "select sessions, review_count, top_category from analytics.customer_features")
    assert (features["sessions"] == 0).all() and (features["review_count"] == 0).all()
    assert features["top_category"].isna().all()
