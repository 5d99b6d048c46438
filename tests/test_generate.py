import numpy as np
import pandas as pd

from ml.data.contract import ticket_intents
from ml.data.synthetic_shop import LEAVING, OPENINGS, TICKET_BODIES, ShopConfig, generate_shop
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
    assert set(shop) == {"customers", "products", "orders", "order_items", "events", "reviews", "tickets"}
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


def test_tickets_come_in_every_intent_worded_many_ways_and_leavers_ask_to_cancel():
    shop = generate_shop(ShopConfig(customers=3000, seed=11))
    tickets, orders = shop["tickets"], shop["orders"]
    assert tuple(TICKET_BODIES) == ticket_intents()
    assert tickets["ticket_id"].is_unique and set(tickets["customer_id"]) <= set(orders["customer_id"])
    labelled = tickets.dropna(subset=["intent"])
    assert set(labelled["intent"]) == set(ticket_intents())
    assert 0.6 < len(labelled) / len(tickets) < 0.8
    # Each intent in at least six wordings, beyond the greeting, case and sign-off around them.
    for intent, group in labelled.groupby("intent"):
        used = {body for body in TICKET_BODIES[intent] if group["text"].str.lower().str.contains(
            body.split("{")[0].lower(), regex=False).any()}
        assert len(used) >= 6, intent
    # Cancellations, then complaints, come from customers who stopped buying far more than praise does.
    end = pd.Timestamp(ShopConfig().end)
    last_order = orders.groupby("customer_id")["ordered_at"].max()
    gone = (end - last_order).dt.days > 180
    share_gone = labelled.assign(gone=gone.reindex(labelled["customer_id"]).to_numpy()).groupby("intent")["gone"].mean()
    assert share_gone["cancel_or_unsubscribe"] > 0.65
    assert share_gone["complaint"] > share_gone["praise"] + 0.2
    # Some tickets carry the customer's email or a phone number for landing to scrub.
    assert tickets["text"].str.contains("@example.com").any() and tickets["text"].str.contains(r"\+44 20").any()
