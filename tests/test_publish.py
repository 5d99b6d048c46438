"""Publishing: score history as a dbt model, a generic swap of the published models, and an
upgrade from a warehouse written before customer_scores was a dbt model."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pytest

from ml import settings as settings_module
from ml.actions.recommendations import Recommender
from ml.data import dbt_runner, warehouse
from ml.data.ingest import ingest_folder
from tests.conftest import PII_KEY

AS_OF = date(2025, 10, 1)
EARLIER = date(2025, 9, 1)
# analytics.customer_scores as clm wrote it before the table was a dbt model.
OLD_SCHEMA = """create table analytics.customer_scores (
    customer_id varchar, as_of date, churn_probability double, expected_orders double, expected_spend double,
    value_tier varchar, horizon_days integer, model_name varchar, model_version integer, scored_at timestamp)"""

pytestmark = pytest.mark.slow


@pytest.fixture
def home(tmp_path, monkeypatch, tiny_shop):
    monkeypatch.setenv("CLM_HOME", str(tmp_path / "home"))
    settings = settings_module.load()
    ingest_folder(tiny_shop, settings.raw_dir, PII_KEY)
    dbt_runner.build(dbt_runner.FEATURE_SELECTOR, AS_OF, settings)
    return settings


def stage(settings, as_of: date, **extra_columns) -> pd.DataFrame:
    """What the score and recommend steps write for the marts build."""
    wh = warehouse.DuckDBWarehouse(settings.warehouse, settings.analytics_db)
    features = wh.read_table("customer_features")
    scores = features[["customer_id", "as_of"]].assign(
        churn_probability=0.3, expected_orders=1.2, expected_spend=80.0, value_tier="medium",
        expected_next_order_date=(pd.to_datetime(features["as_of"]) + pd.Timedelta(days=20)).dt.date,
        review_sentiment=None, horizon_days=90, model_name="clm-customer-model", model_version=2, model_family="lightgbm",
        scored_at=pd.Timestamp("2025-10-01 06:00"), churn_reason_1="no order in 90 days", churn_reason_2=None,
        churn_reason_3=None, **extra_columns)
    wh.stage_scores(scores)
    purchases = wh.read_table("customer_products")
    recommendations = Recommender.fit(purchases).recommend(features["customer_id"]).assign(as_of=as_of)
    wh.write_table(warehouse.RECOMMENDATIONS_STAGED, recommendations)
    return scores


def run_marts_and_publish(settings) -> dict[str, int]:
    dbt_runner.build(dbt_runner.MARTS_SELECTOR, AS_OF, settings)
    with warehouse.opened(settings) as wh:
        return wh.publish(AS_OF, dbt_runner.published_models(settings))


def analytics(settings, sql: str) -> pd.DataFrame:
    """What analysts read: their own database file, never the pipeline's warehouse."""
    with duckdb.connect(str(settings.analytics_db), read_only=True) as con:
        return con.execute(sql).df()


def test_an_old_warehouse_keeps_its_history_and_gains_a_new_score_column(home):
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("create schema analytics")
        con.execute(OLD_SCHEMA)
        con.execute("insert into analytics.customer_scores values "
                    "('c1', ?, 0.5, 1.0, 10.0, 'low', 90, 'clm-customer-model', 1, '2025-09-01 06:00'),"
                    "('c2', ?, 0.6, 0.5, 5.0, 'low', 90, 'clm-customer-model', 1, '2025-09-01 06:00')",
                    [EARLIER, EARLIER])
    staged = stage(home, AS_OF, risk_band="medium")

    counts = run_marts_and_publish(home)

    scores = analytics(home, "select * from analytics.customer_scores order by as_of, customer_id")
    assert counts[f"customer_scores as of {AS_OF}"] == len(staged)
    assert len(scores) == len(staged) + 2
    assert scores.loc[scores["as_of"].dt.date == EARLIER, "customer_id"].tolist() == ["c1", "c2"]
    assert scores.loc[scores["as_of"].dt.date == EARLIER, "risk_band"].isna().all()
    # Scored before clm had model families: every model then was a transformer.
    assert (scores.loc[scores["as_of"].dt.date == EARLIER, "model_family"] == "transformer").all()
    assert (scores.loc[scores["as_of"].dt.date == AS_OF, "risk_band"] == "medium").all()
    published = set(dbt_runner.published_models(home))
    assert {"customer_features", "customer_scores", "customer_segments", "quarantine_orders"} <= published
    tables = set(analytics(home, "select table_name from duckdb_tables()")["table_name"])
    assert published == tables

    # The next version adds another column, and the day is re-run: replaced, not doubled.
    stage(home, AS_OF, risk_band="high", next_best_action="coupon")
    run_marts_and_publish(home)
    again = analytics(home, "select * from analytics.customer_scores")
    assert len(again) == len(scores)
    today = again[again["as_of"].dt.date == AS_OF]
    assert (today["risk_band"] == "high").all() and (today["next_best_action"] == "coupon").all()
    assert again.loc[again["as_of"].dt.date == EARLIER, "next_best_action"].isna().all()


def test_an_unscored_date_is_not_published(home):
    stage(home, AS_OF)
    dbt_runner.build(dbt_runner.MARTS_SELECTOR, AS_OF, home)
    with pytest.raises(ValueError, match="no rows for the run's date 2025-10-02; nothing was published"):
        warehouse.DuckDBWarehouse(home.warehouse, home.analytics_db).publish(date(2025, 10, 2),
                                                                             dbt_runner.published_models(home))
    assert not home.analytics_db.exists()
