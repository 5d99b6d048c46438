"""One dbt project, two engines: a 300-customer synthetic shop, with a bad order for each rule
of the orders table, built by dbt on DuckDB and on Spark (local mode) for the same date gives
the same rows and values in every table of the feature build, quarantine included, and the same
error when too much of it is bad; one champion scores Spark's customer_features through
spark_udf as the pandas path scores them; and the daily steps after the feature build (score,
recommend, the marts, publish) on each engine with that champion publish the same tables, which
`clm sql --engine spark` reads. And `clm run --engine spark` does the whole of it through Airflow."""

from __future__ import annotations

import dataclasses
import json
from datetime import date

import mlflow
import numpy as np
import pandas as pd
import pytest

from ml import settings as settings_module
from ml.actions import scoring, spark_scoring
from ml.actions.reasons import Explainer
from ml.data import dbt_runner, warehouse
from ml.data.ingest import day_after_last_order, ingest_folder
from ml.data.spark import session
from ml.data.synthetic_shop import generate_shop, write_shop
from ml.models.baselines import GbmModel
from ml.models.clv import CLV_FEATURES, NEXT_ORDER_DAYS, clv_features, with_clv_features
from ml.run import steps
from ml.training import registry, tracking
from tests.conftest import PII_KEY, TINY, TINY_TRAINING, clm
from tests.test_gauntlet import with_bad_orders, with_bad_tickets

pytestmark = [pytest.mark.slow, pytest.mark.spark]

# Each table of the feature build, by the columns that name a row.
TABLES = {
    "customer_features": ["customer_id"],
    "training_examples": ["customer_id", "as_of"],
    "review_sentiment": ["review_id"],
    "customer_products": ["customer_id", "product_id"],
    "products": ["product_id"],
    "campaign_effect": ["campaign", "as_of"],
    **{table: ["rule", *columns] for table, columns in {
        "quarantine_orders": ["order_id", "ordered_at_raw"], "quarantine_customers": ["customer_id"],
        "quarantine_order_items": ["order_item_id"], "quarantine_products": ["product_id"],
        "quarantine_events": ["event_id"], "quarantine_reviews": ["review_id"],
        "quarantine_campaign_contacts": ["customer_id", "campaign_id"],
        "quarantine_coupon_redemptions": ["customer_id", "coupon_id"],
        "quarantine_tickets": ["ticket_id", "created_at_raw"]}.items()},
}
RELATIVE = 1e-9
# The spread of a customer's gaps comes from per-period sums of squares (one pass over the
# orders, docs/decisions/0012-feature-sums-per-period.md): their difference cancels most digits,
# so the engines' different summation orders show in the 8th.
LOOSER = {"std_interpurchase_days": 1e-6}


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory):
    """{engine: {table: frame}} of one raw landing built on each engine, and "settings": each
    engine's settings."""
    work = tmp_path_factory.mktemp("engines")
    write_shop(generate_shop(dataclasses.replace(TINY, customers=300)), work / "clean")
    with_bad_orders(work / "clean", work / "shop")
    with_bad_tickets(work / "shop")
    ingest_folder(work / "shop", work / "raw", PII_KEY)
    as_of = date.fromisoformat(str(day_after_last_order(work / "raw")))
    built = {"settings": {}}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLM_RAW_DIR", str(work / "raw"))
        for engine in settings_module.ENGINES:
            patch.setenv("CLM_HOME", str(work / engine))
            patch.setenv("CLM_ENGINE", engine)
            settings = built["settings"][engine] = settings_module.load()
            steps.score_tickets(as_of, settings)  # no classifier: the keyword rules, staged on each engine
            dbt_runner.build(dbt_runner.FEATURE_SELECTOR, as_of, settings)
            if engine == "spark":
                with session(settings) as spark:
                    built[engine] = {t: spark.table(f"{warehouse.BUILD}.{t}").toPandas() for t in TABLES}
            else:
                with warehouse.opened(settings) as wh:
                    built[engine] = {t: wh.read_table(t) for t in TABLES}
    return built


def comparable(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows in key order, dates and timestamps as one type, missing values as NaN/None."""
    frame = frame.copy()
    for column in frame.columns:
        values = frame[column].dropna()
        if pd.api.types.is_datetime64_any_dtype(frame[column]) or any(isinstance(v, date) for v in values):
            frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
    return frame.sort_values(keys, na_position="first", kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("table", list(TABLES))
def test_duckdb_and_spark_build_the_same_table(both_engines, table):
    keys = TABLES[table]
    duck = comparable(both_engines["duckdb"][table], keys)
    spark = comparable(both_engines["spark"][table], keys)
    assert list(spark.columns) == list(duck.columns)
    assert len(spark) == len(duck)
    if table in {"customer_features", "training_examples", "quarantine_orders", "quarantine_tickets"}:
        assert len(duck) > 0, f"{table} should have rows to compare"
    for column in duck.columns:
        ours, theirs = duck[column], spark[column]
        if pd.api.types.is_numeric_dtype(ours) and not pd.api.types.is_bool_dtype(ours):
            ours, theirs = ours.astype("float64").to_numpy(), theirs.astype("float64").to_numpy()
            close = np.isclose(ours, theirs, rtol=LOOSER.get(column, RELATIVE), atol=0, equal_nan=True)
        else:
            close = (ours.astype(str) == theirs.astype(str)).to_numpy() | (ours.isna() & theirs.isna()).to_numpy()
        assert close.all(), (f"{table}.{column} differs in {(~close).sum()} rows, e.g. "
                             f"{list(zip(ours[~close][:3], theirs[~close][:3], strict=True))}")


def test_spark_quarantines_every_bad_order_with_its_rule(both_engines):
    rules = both_engines["spark"]["quarantine_orders"]["rule"].value_counts().to_dict()
    assert rules == {rule: 1 for rule in ["unparseable_amount", "missing_order_id", "duplicate_order_id",
                                          "implausible_amount", "ordered_at_before_1990", "future_ordered_at",
                                          "unparseable_ordered_at", "orphan_customer_id", "negative_amount"]}


def test_too_much_bad_input_fails_in_the_same_words_on_both_engines(both_engines):
    """The quarantine check, held to a limit the bad orders break, names the table, its share,
    each rule with example rows and where they lie, in the same sentence on Spark as on DuckDB."""
    as_of = both_engines["duckdb"]["customer_features"]["as_of"].iloc[0].date()
    messages = {}
    for engine, settings in both_engines["settings"].items():
        with pytest.raises(ValueError) as failed:
            steps.check_quarantine(as_of, dataclasses.replace(settings, max_quarantine_share=0.0001))
        messages[engine] = str(failed.value)
    assert messages["spark"] == messages["duckdb"]
    assert messages["spark"].startswith("Too much bad input (limit 0% per table, CLM_MAX_QUARANTINE_SHARE); "
                                        "nothing was published:")
    assert "unparseable_amount 1 (e.g. order_id=b1)" in messages["spark"]
    assert "missing_order_id 1 (e.g. order_id=missing)" in messages["spark"]
    assert "see build.quarantine_orders" in messages["spark"] and "Traceback" not in messages["spark"]


def test_the_champion_scores_the_same_through_spark_udf_as_through_the_pandas_path(both_engines, tmp_path):
    """A LightGBM champion logged to MLflow scores Spark's customer_features inside Spark
    (spark_udf, reasons per partition) and, on the same rows, through the pandas path's chunks."""
    settings = both_engines["settings"]["spark"]
    gbm = GbmModel.fit(with_clv_features(both_engines["duckdb"]["training_examples"], settings.horizon_days))
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with mlflow.start_run():
        uri = tracking.log_customer_model(gbm.save(tmp_path / "gbm"), GbmModel.family)
    extra = {"model_name": "clm-customer-model", "model_version": 1, "model_family": GbmModel.family}

    with session(settings) as spark:
        features = spark.table(f"{warehouse.BUILD}.customer_features")
        inside = spark_scoring.score(spark, features, uri, Explainer(gbm), settings.horizon_days, extra).toPandas()
        rows = features.toPandas()
    clv = pd.concat([rows[["customer_id", "as_of"]], clv_features(rows[list(scoring.CLV_INPUTS)], settings.horizon_days)],
                    axis=1)[["customer_id", "as_of", *CLV_FEATURES, NEXT_ORDER_DAYS]]
    chunks = (rows.drop(columns=[c for c in CLV_FEATURES if c in rows]).merge(clv, on=["customer_id", "as_of"])
              .iloc[start:start + 100] for start in range(0, len(rows), 100))
    out = tmp_path / "scores.parquet"
    scoring.score_to_parquet(chunks, gbm, Explainer(gbm), out, extra)
    pandas_path = pd.read_parquet(out)

    inside = inside.sort_values("customer_id").reset_index(drop=True)
    pandas_path = pandas_path.sort_values("customer_id").reset_index(drop=True)
    assert list(inside.columns) == list(pandas_path.columns)
    assert inside["customer_id"].tolist() == pandas_path["customer_id"].tolist() and len(inside) == 300
    for column in ("churn_probability", "expected_orders", "expected_spend"):
        assert np.allclose(inside[column], pandas_path[column], rtol=1e-6, atol=1e-9), column
    for column in ("value_tier", "churn_reason_1", "churn_reason_2", "churn_reason_3", "model_family"):
        assert inside[column].fillna("").tolist() == pandas_path[column].fillna("").tolist(), column
    assert inside["churn_reason_1"].notna().mean() > 0.5
    assert (pd.to_datetime(inside["expected_next_order_date"]).fillna(pd.Timestamp(0)).tolist()
            == pd.to_datetime(pandas_path["expected_next_order_date"]).fillna(pd.Timestamp(0)).tolist())


# What the publish writes differs by engine only in when it was scored.
RUN_COLUMNS = {"scored_at"}
PUBLISHED_KEYS = {"customer_scores": ["customer_id", "as_of"], "customer_segments": ["customer_id"],
                  "churn_alerts": ["alert_rank"], "next_best_action": ["customer_id"],
                  "recommendations": ["customer_id", "rank"]}


def test_the_daily_steps_publish_the_same_tables_on_both_engines(both_engines, tmp_path):
    """One LightGBM champion in one MLflow registry; each engine scores, recommends, builds the
    marts and publishes its own feature build of the same shop."""
    settings = both_engines["settings"]
    as_of = both_engines["duckdb"]["customer_features"]["as_of"].iloc[0].date()
    gbm = GbmModel.fit(with_clv_features(both_engines["duckdb"]["training_examples"], 90))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
        published = {}
        for engine in settings_module.ENGINES:
            patch.setenv("CLM_HOME", str(settings[engine].home))
            patch.setenv("CLM_RAW_DIR", str(settings[engine].raw_dir))
            patch.setenv("CLM_ENGINE", engine)
            engine_settings = settings_module.load()
            if engine == "duckdb":
                tracking.configure(engine_settings)
                with mlflow.start_run():
                    uri = tracking.log_customer_model(gbm.save(tmp_path / "gbm"), GbmModel.family)
                version = mlflow.register_model(uri, engine_settings.model_name).version
                client = mlflow.MlflowClient()
                client.set_model_version_tag(engine_settings.model_name, version, "family", GbmModel.family)
                client.set_registered_model_alias(engine_settings.model_name, GbmModel.family, version)
                registry.promote(engine_settings.model_name, str(version), "the test's champion")
            for step in (steps.score, steps.recommend, steps.build_marts, steps.publish):
                step(as_of, engine_settings)
            with warehouse.opened(engine_settings) as wh:
                published[engine] = {table: comparable(pd.DataFrame(rows, columns=columns), keys)
                                     for table, keys in PUBLISHED_KEYS.items()
                                     for columns, rows in [wh.query(f"select * from {table}")]}
    for table in PUBLISHED_KEYS:
        duck, spark = published["duckdb"][table], published["spark"][table]
        assert len(duck) == len(spark) > 0, table
        assert set(duck.columns) == set(spark.columns), f"{table}: {set(duck.columns) ^ set(spark.columns)}"
        for column in sorted(set(duck.columns) - RUN_COLUMNS):
            ours, theirs = duck[column], spark[column]
            if pd.api.types.is_numeric_dtype(ours) and not pd.api.types.is_bool_dtype(ours):
                close = np.isclose(ours.astype("float64"), theirs.astype("float64"), rtol=1e-6, atol=1e-9, equal_nan=True)
            else:
                close = (ours.astype(str) == theirs.astype(str)).to_numpy() | (ours.isna() & theirs.isna()).to_numpy()
            assert close.all(), f"{table}.{column}: {list(zip(ours[~close][:3], theirs[~close][:3], strict=True))}"

    # An analyst's query on Spark, as a person types it.
    shown = clm(settings["spark"].home, "sql", "--engine", "spark", "--csv",
                "select count(*) as customers from customer_scores",
                env={"CLM_RAW_DIR": str(settings["spark"].raw_dir)})
    assert shown.stdout.splitlines() == ["customers", str(len(published["spark"]["customer_scores"]))]


def test_clm_run_on_spark_trains_scores_and_publishes_through_airflow(tmp_path, tiny_shop):
    """What a user types: the first `clm run --engine spark` of a home trains (no champion yet),
    then scores and publishes, every task a Spark step, and analysts query the result on Spark."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "train.json").write_text(json.dumps(TINY_TRAINING))
    clm(home, "ingest", "folder", str(tiny_shop))
    out = clm(home, "run", "--engine", "spark", "--as-of", "2026-01-01").stdout
    assert "clm_training for 2026-01-01 succeeded" in out and "clm_daily for 2026-01-01 succeeded" in out, out
    assert (home / "spark" / "metastore_db").is_dir() and not (home / "analytics.duckdb").exists()
    shown = clm(home, "sql", "--engine", "spark", "--csv",
                "select count(*) as customers, count(distinct model_version) as versions from customer_scores")
    assert shown.stdout.splitlines() == ["customers,versions", f"{TINY.customers},1"]
