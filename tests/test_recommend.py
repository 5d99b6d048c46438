"""Recommendations on the synthetic shop, whose customers keep buying their staple products."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.actions.recommendations import K, Recommender, evaluate, ranking_metrics
from ml.data.synthetic_shop import ShopConfig, generate_shop

AS_OF = pd.Timestamp("2026-01-01")


@pytest.fixture(scope="module")
def purchases() -> pd.DataFrame:
    """customer_products as dbt builds it, from a generated shop."""
    shop = generate_shop(ShopConfig(customers=800, seed=3))
    orders = shop["orders"][shop["orders"]["status"] != "cancelled"]
    lines = shop["order_items"].merge(orders[["order_id", "customer_id", "ordered_at"]], on="order_id")
    lines["recent"] = lines["ordered_at"] >= AS_OF - pd.Timedelta(days=90)
    frame = lines.groupby(["customer_id", "product_id"]).agg(purchases=("order_id", "size"),
                                                             purchases_last_horizon=("recent", "sum")).reset_index()
    return frame.astype({"customer_id": str, "product_id": str})


def test_customers_buy_their_products_again(purchases):
    assert (purchases["purchases"] > 1).mean() > 0.15


def test_personal_frequency_beats_popularity_on_repeat_products(purchases):
    results = evaluate(purchases).set_index(["method", "products"])
    assert results.loc[("clm", "repeat"), f"recall_at_{K}"] > 0.6
    assert results.loc[("clm", "repeat"), f"recall_at_{K}"] > 3 * results.loc[("popularity", "repeat"), f"recall_at_{K}"]
    assert results.loc[("clm", "all"), f"ndcg_at_{K}"] > results.loc[("popularity", "all"), f"ndcg_at_{K}"]
    assert set(results.index.get_level_values("products")) == {"all", "repeat", "new"}


def test_everyone_gets_k_distinct_products_and_newcomers_get_the_popular_ones(purchases):
    model = Recommender.fit(purchases)
    customers = pd.Series(list(purchases["customer_id"].unique()) + ["newcomer"])
    out = model.recommend(customers)
    assert (out.groupby("customer_id")["product_id"].nunique() == K).all()
    assert (out.groupby("customer_id")["rank"].apply(list) == [list(range(1, K + 1))] * len(customers)).all()
    assert out.groupby("customer_id")["score"].apply(lambda s: s.is_monotonic_decreasing).all()
    newcomer = out[out["customer_id"] == "newcomer"]
    assert (newcomer["source"] == "popular").all()
    counts = purchases.groupby("product_id")["purchases"].sum()
    assert counts.loc[newcomer["product_id"]].min() >= counts.nlargest(K).min()  # the K most bought, ties aside
    # A customer's most bought product comes first (one of them, when several tie).
    most = purchases.groupby("customer_id")["purchases"].max()
    first = out[out["rank"] == 1].merge(purchases, on=["customer_id", "product_id"])
    heavy = first[first["customer_id"].map(most) >= 3]
    assert len(heavy) > 20 and (heavy["purchases"] == heavy["customer_id"].map(most)).all()


def test_ranking_metrics_on_a_hand_made_case():
    recommended = pd.DataFrame({"customer_id": ["a", "a", "b"], "product_id": ["x", "y", "z"], "rank": [1, 2, 1]})
    truth = pd.DataFrame({"customer_id": ["a", "b", "b"], "product_id": ["y", "q", "r"]})
    metrics = ranking_metrics(recommended, truth, k=10)
    assert metrics["recall_at_10"] == pytest.approx((1.0 + 0.0) / 2)
    assert metrics["ndcg_at_10"] == pytest.approx((1 / np.log2(3)) / 2)


def test_the_same_purchases_in_another_order_recommend_the_same_products(purchases):
    """The warehouse returns rows in no fixed order; equal scores must not break ties by it."""
    customers = pd.Series(purchases["customer_id"].unique()[:200])
    once = Recommender.fit(purchases).recommend(customers)
    shuffled = Recommender.fit(purchases.sample(frac=1.0, random_state=7)).recommend(customers)
    pd.testing.assert_frame_equal(once, shuffled)
