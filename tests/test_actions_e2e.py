"""The tables a CRM team acts on, after real pipeline runs: churn alerts with reasons, one
next best action per customer with deterministic holdouts, the effect of the actions measured
on a shop where treated customers were made to order more, and recommendations."""

from __future__ import annotations

import hashlib
import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient, set_tracking_uri

from ml.settings import PROJECT_DIR
from tests.conftest import clm

pytestmark = pytest.mark.e2e
AS_OF = "2026-01-01"
PLANTED_EXTRA_ORDERS = 1.0


def read(home, sql: str, params: list | None = None) -> pd.DataFrame:
    with duckdb.connect(str(home / "analytics.duckdb"), read_only=True) as con:
        return con.execute(sql, params or []).df()


def test_first_run_alerts_the_most_value_at_stake_above_the_shops_own_threshold_with_reasons(pipeline_home):
    scores = read(pipeline_home, "select * from analytics.customer_scores where as_of = ?", [AS_OF])
    alerts = read(pipeline_home, "select * from analytics.churn_alerts order by alert_rank")
    # The threshold: churn odds three times the shop's base odds (its mean churn probability).
    base = scores["churn_probability"].mean() / (1 - scores["churn_probability"].mean())
    threshold = 3 * base / (1 + 3 * base)
    assert np.allclose(alerts["alert_threshold"], threshold)
    # No earlier scoring: everyone above it reached it "from below"; the 100 with most at stake are called.
    above = scores[scores["churn_probability"] >= threshold]
    stake = (above["expected_spend"] * above["churn_probability"]).sort_values(ascending=False)
    assert len(alerts) == min(len(above), 100) and len(alerts) < len(scores) / 2
    assert set(alerts["customer_id"]) == set(above.loc[stake.index[:100], "customer_id"])
    assert len(alerts) > 0 and (alerts["alert_trigger"] == "crossed the threshold").all()
    assert alerts["alert_rank"].tolist() == list(range(1, len(alerts) + 1))
    assert alerts["value_at_stake"].is_monotonic_decreasing
    expected = scores.set_index("customer_id").loc[alerts["customer_id"]]
    assert np.allclose(alerts["value_at_stake"], expected["expected_spend"] * expected["churn_probability"])
    assert alerts["churn_reason_1"].notna().mean() > 0.9
    assert alerts["churn_reason_1"].str.len().gt(5).all()


def test_every_customer_gets_the_action_of_their_rule_and_a_tenth_are_held_out(pipeline_home):
    actions = read(pipeline_home, "select * from analytics.next_best_action where as_of = ?", [AS_OF])
    scores = read(pipeline_home, "select customer_id from analytics.customer_scores where as_of = ?", [AS_OF])
    assert len(actions) == len(scores) and actions["customer_id"].is_unique

    rules = pd.read_csv(PROJECT_DIR / "dbt_project" / "seeds" / "retention_rules.csv")
    key = ["risk_band", "value_tier", "rfm_segment"]
    specific = actions.merge(rules, on=key, how="left", suffixes=("", "_rule"))["action_rule"]
    general = actions.drop(columns="rfm_segment").assign(rfm_segment="*").merge(
        rules, on=key, how="left", suffixes=("", "_rule"))["action_rule"]
    assert (actions["action"] == specific.fillna(general)).all()
    bands = np.where(actions["churn_probability"] >= 0.8, "high", np.where(actions["churn_probability"] >= 0.5, "medium", "low"))
    assert (actions["risk_band"] == bands).all()

    acted = actions["action"] != "no action"
    held = [int(hashlib.md5(f"{c}|{a}".encode()).hexdigest()[:8], 16) % 10000 < 1000
            for c, a in zip(actions["customer_id"], actions["action"], strict=True)]
    assert (actions["in_holdout"] == (np.asarray(held) & acted)).all()
    assert 0.03 < actions.loc[acted, "in_holdout"].mean() < 0.2
    assert (actions["treated"] == (acted & ~actions["in_holdout"])).all()
    assert (actions.loc[~actions["treated"], "cost"] == 0).all()


def plant_campaign(shop_dir, actions: pd.DataFrame, out_dir, seed: int = 5) -> np.ndarray:
    """Copy the shop and add the 90 days after AS_OF: every customer of a campaign orders
    Poisson(1) times, and a treated one PLANTED_EXTRA_ORDERS more; the orders planted per row of
    `actions`."""
    shutil.copytree(shop_dir, out_dir)
    orders = pd.read_parquet(shop_dir / "orders.parquet")
    rng = np.random.default_rng(seed)
    counts = rng.poisson(1.0, len(actions)) + np.where(actions["treated"], PLANTED_EXTRA_ORDERS, 0).astype(int)
    customers = np.repeat(actions["customer_id"].astype(orders["customer_id"].dtype).to_numpy(), counts)
    days = rng.uniform(0, 89, customers.size)
    new = pd.DataFrame({
        "order_id": orders["order_id"].max() + 1 + np.arange(customers.size),
        "customer_id": customers,
        "ordered_at": pd.Timestamp(AS_OF) + pd.to_timedelta(days, unit="D"),
        "status": "completed",
        "amount": 30.0,
    })
    pd.concat([orders, new[orders.columns]], ignore_index=True).to_parquet(out_dir / "orders.parquet", index=False)
    return counts


def test_campaign_effect_finds_the_planted_effect_once_the_horizon_has_passed(pipeline_home, tiny_shop, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(pipeline_home, home)
    actions = read(home, "select customer_id, campaign, treated, in_holdout from analytics.next_best_action "
                         "where as_of = ? and (treated or in_holdout) order by customer_id", [AS_OF])
    planted = actions.assign(orders=plant_campaign(tiny_shop, actions, tmp_path / "shop"))
    clm(home, "ingest", "folder", str(tmp_path / "shop"))
    # The planted orders make most customers far less likely to churn than a quarter ago.
    clm(home, "run", "--as-of", "2026-04-01", env={"CLM_MAX_CHURN_SHIFT": "1.0"})

    effect = read(home, "select * from analytics.campaign_effect where as_of = ?", [AS_OF]).set_index("campaign")
    # Every campaign with customers on both sides is measured, each customer once.
    sides = planted.groupby("campaign")["treated"].agg(["any", "all"])
    measured = sides[sides["any"] & ~sides["all"]].index
    assert set(effect.index) == set(measured)
    assert (effect["treated_customers"] + effect["holdout_customers"]).sum() == planted["campaign"].isin(measured).sum()
    # Each effect is what was planted: the treated customers' mean orders less the held-out
    # ones', with a 95% interval from their spreads (none with fewer than two on a side).
    for campaign, rows in planted[planted["campaign"].isin(measured)].groupby("campaign"):
        treated, holdout = rows.loc[rows["treated"], "orders"], rows.loc[~rows["treated"], "orders"]
        got = effect.loc[campaign]
        assert got["orders_effect"] == pytest.approx(treated.mean() - holdout.mean())
        if min(len(treated), len(holdout)) >= 2:
            half = 1.96 * np.sqrt(treated.var() / len(treated) + holdout.var() / len(holdout))
            assert (got["orders_effect_low"], got["orders_effect_high"]) == pytest.approx(
                (got["orders_effect"] - half, got["orders_effect"] + half), abs=1e-6)
        else:
            assert np.isnan(got["orders_effect_low"]) and np.isnan(got["orders_effect_high"])
    pooled = np.average(effect["orders_effect"], weights=effect["treated_customers"])
    assert pooled > 0  # PLANTED_EXTRA_ORDERS, less the noise of a few held-out customers
    assert np.allclose(effect["spend_effect"], 30.0 * effect["orders_effect"])
    # Nothing to measure yet for the date just scored.
    assert read(home, "select count(*) as n from analytics.campaign_effect where as_of = '2026-04-01'")["n"].item() == 0


def test_every_customer_gets_ten_products_and_the_evaluation_is_printed_and_logged(pipeline_home):
    recommendations = read(pipeline_home, "select * from analytics.recommendations")
    customers = read(pipeline_home, "select customer_id from analytics.customer_features")
    assert set(recommendations["customer_id"]) == set(customers["customer_id"])
    assert (recommendations.groupby("customer_id")["product_id"].nunique() == 10).all()
    assert recommendations["product_name"].notna().all() and (recommendations["as_of"].astype(str) == AS_OF).all()
    repeat = recommendations[recommendations["source"] == "repeat"]
    bought = read(pipeline_home, "select customer_id, product_id from analytics.customer_products")
    assert len(repeat) == len(repeat.merge(bought, on=["customer_id", "product_id"]))

    out = clm(pipeline_home, "evaluate", "recommendations").stdout
    assert "recall_at_10" in out and "ndcg_at_10" in out and "popularity" in out and "repeat" in out
    set_tracking_uri(f"sqlite:///{pipeline_home / 'mlflow.db'}")
    run = MlflowClient().search_runs(
        [MlflowClient().get_experiment_by_name("clm").experiment_id],
        filter_string="params.task = 'recommendations'", order_by=["attributes.start_time DESC"])[0]
    metrics = run.data.metrics
    assert metrics["clm_repeat_recall_at_10"] > metrics["popularity_repeat_recall_at_10"]
    assert {"clm_new_ndcg_at_10", "popularity_all_recall_at_10"} <= set(metrics)
