import numpy as np
import pandas as pd

from ml.data.synthetic_shop import LEAVING, OPENINGS, ShopConfig, generate_shop
from tests.conftest import TINY


def test_same_seed_gives_identical_tables():
    first, second = generate_shop(TINY), generate_shop(TINY)
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name])


def test_other_seed_gives_other_shop():
    other = generate_shop(ShopConfig(**{**TINY.__dict__, "seed": TINY.seed + 1}))
    assert not other["orders"]["amount"].equals(generate_shop(TINY)["orders"]["amount"])


def test_tables_follow_the_contract_and_keys_join():
    shop = generate_shop(ShopConfig(customers=400, seed=3))
    assert set(shop) == {"customers", "products", "orders", "order_items", "events", "reviews"}
    assert shop["orders"]["order_id"].is_unique
    assert set(shop["orders"]["customer_id"]) <= set(shop["customers"]["customer_id"])
    assert set(shop["order_items"]["order_id"]) == set(shop["orders"]["order_id"])
    assert set(shop["order_items"]["product_id"]) <= set(shop["products"]["product_id"])
    assert shop["reviews"]["rating"].between(1, 5).all()
    assert (shop["orders"]["amount"] > 0).all()
    assert set(shop["events"]["event_type"]) == {"product_view", "add_to_cart", "purchase"}


def test_unhappy_customers_review_worse_and_stop_buying_sooner():
    shop = generate_shop(ShopConfig(customers=3000, seed=11))
    reviews = shop["reviews"].groupby("customer_id")["rating"].mean()
    negative_text = shop["reviews"].loc[shop["reviews"]["rating"] <= 2, "review_text"]
    assert negative_text.str.startswith(OPENINGS["negative"]).mean() > 0.85
    # Some who leave say so in their last review; nobody else does.
    leaving = shop["reviews"]["review_text"].str.contains("|".join(LEAVING))
    assert 0 < leaving.sum() < 0.2 * len(leaving)
    last_order_id = shop["orders"].sort_values("ordered_at").groupby("customer_id")["order_id"].last()
    said_leaving = shop["reviews"][leaving]
    assert (said_leaving["order_id"].to_numpy() == last_order_id.reindex(said_leaving["customer_id"]).to_numpy()).all()
    last_order = shop["orders"].groupby("customer_id")["ordered_at"].max()
    end = pd.Timestamp(ShopConfig().end)
    still_buying = (end - last_order).dt.days < 90
    unhappy = reviews[reviews <= 2.5].index
    happy = reviews[reviews >= 4].index
    assert still_buying.reindex(unhappy).mean() < 0.5 * still_buying.reindex(happy).mean()
    # Some customers stop for good: a long silence before the end of the history.
    assert ((end - last_order).dt.days > 365).mean() > 0.1
    assert np.isfinite(shop["orders"]["amount"]).all()
