"""A synthetic online shop that behaves like one.

Every table comes out of one generative story, so that the features the warehouse computes
carry real signal and the models have something true to learn:

* each customer has a latent purchase rate, a typical basket value, a favourite category and
  a few staple products in it they buy again and again, a taste for discounts, a browsing
  intensity and a satisfaction level;
* orders arrive as a Poisson process at the customer's rate from sign-up on;
* after every order the customer may leave for good (the BG/NBD story), and unhappy customers
  (low satisfaction, a bad last experience) leave far more often;
* unhappy customers return and cancel more, rate lower and write negative reviews;
* every order comes with a browsing session (views, cart, purchase) and customers also browse
  without buying, less so once they have left;
* customers write to support about their orders: where an order is, returns, questions before
  buying, discounts (the deal-prone), praise (the delighted), complaints after a bad experience
  and, among those about to leave, cancelling their account.

The same seed always gives byte-identical tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

CATEGORIES = (
    "electronics", "fashion", "home", "beauty", "sports", "books", "toys", "grocery",
)

# Review texts are built from phrases, as real ones are: the stars set the opening's tone, the
# order's experience the aspect mentioned, and a customer about to leave often says so. Many
# phrases carry their tone without a word a sentiment lexicon knows ("Would not buy this
# again"), and mixed reviews ("Great purchase. The size was wrong.") average out in one.
OPENINGS = {
    "positive": ("Love it.", "Great purchase.", "Really happy with this.", "Excellent product.",
                 "Five stars from me.", "Does exactly what I wanted."),
    "neutral": ("It is okay.", "Mixed feelings.", "Average at best.", "Not bad, not great.",
                "Does the job, mostly.", "Decent enough."),
    "negative": ("Very disappointed.", "Not what I hoped for.", "Would not buy this again.", "Terrible.",
                 "Not good at all.", "Regret this one."),
}
GOOD_ASPECTS = ("Arrived quickly.", "Well packed.", "Quality is better than expected.", "Worth the money.",
                "Fits perfectly.", "Customer service was helpful.")
BAD_ASPECTS = ("Delivery took two weeks.", "The box was damaged.", "Feels cheap.", "Overpriced for what it is.",
               "The size was wrong.", "Nobody answered my emails.")
LEAVING = ("This was my last order here.", "I am closing my account.", "Going back to my old shop.",
           "Never again with this store.")
STAYING = ("Already planning my next order.", "My go-to shop now.", "Will be back soon.")
# Support tickets, worded many ways: a greeting, what the ticket is about, sometimes a detail,
# the customer's email or phone number (landing scrubs them), a sign-off. {order} is the order's
# number, {category} a category the customer buys, {days} days since the order.
TICKET_BODIES = {
    "where_is_my_order": (
        "Where is my order {order}? It has been {days} days.",
        "My parcel {order} still hasn't arrived.",
        "Could you tell me when order #{order} will be delivered?",
        "The tracking for {order} has not moved in days.",
        "Any update on my delivery? Order {order}.",
        "I ordered {days} days ago and nothing yet. Order number {order}.",
        "has my order {order} been shipped",
        "Still waiting for my {category} order, it was due last week.",
    ),
    "return_or_refund": (
        "I would like to return order {order}.",
        "How do I send back the {category} items from order {order}?",
        "I returned my parcel two weeks ago and have not been refunded.",
        "Please refund order {order}, the item does not fit.",
        "Can I get my money back for order {order}?",
        "I need a return label for order #{order}.",
        "where is my refund for {order}",
        "Wrong size, I want to exchange or return it.",
    ),
    "cancel_or_unsubscribe": (
        "Please close my account.",
        "Delete my account and all my data.",
        "Unsubscribe me from all your emails.",
        "I want to cancel my membership.",
        "Stop sending me newsletters, and remove my account.",
        "How do I delete my customer account?",
        "please cancel my subscription",
        "I no longer want to shop here. Close my account.",
    ),
    "product_question": (
        "Does the {category} range come in other sizes?",
        "Is this item in stock again soon?",
        "What material is the {category} product made of?",
        "Can you tell me if this works with my older model?",
        "Are the {category} items suitable for children?",
        "What are the dimensions of this product?",
        "is there a warranty on {category} products",
        "Will you restock the {category} item I looked at?",
    ),
    "complaint": (
        "The item in order {order} arrived broken.",
        "Very poor quality, it fell apart after a week.",
        "The courier left my parcel in the rain and everything is ruined.",
        "Order {order} arrived {days} days late and the box was crushed.",
        "This is the second time I received the wrong item.",
        "I am really unhappy with the {category} product, it looks nothing like the photos.",
        "your delivery service is terrible",
        "Part of order {order} was missing and nobody answers my emails.",
    ),
    "discount_request": (
        "Do you have a discount code for my next order?",
        "Is there a sale coming up on {category}?",
        "Can I get a voucher as a regular customer?",
        "I saw a cheaper price elsewhere, can you match it?",
        "Any promo codes this month?",
        "Do you offer student discounts?",
        "will the {category} items go on sale soon",
        "Can you give me a coupon for free shipping?",
    ),
    "praise": (
        "Just wanted to say thank you, order {order} was perfect.",
        "Great service, my parcel came a day early.",
        "Love the {category} products, keep it up!",
        "Thanks for the quick help last time, much appreciated.",
        "Best online shop I have used, fantastic quality.",
        "Really happy with order {order}, thank you!",
        "you guys are great",
        "The packaging was lovely, thank you so much.",
    ),
}
INTENT_NAMES = tuple(TICKET_BODIES)
TICKET_GREETINGS = ("", "Hi,", "Hello,", "Hi there,", "Dear support,", "Good morning,", "Hey,")
TICKET_DETAILS = ("", "", "", "This is urgent.", "I have written before.", "Thank you in advance.",
                  "I hope you can help.", "Please get back to me soon.")
TICKET_SIGNOFFS = ("", "Thanks", "Thanks!", "Regards", "Kind regards", "Cheers", "Best")
# The share of tickets an agent labelled with an intent: the rest wait for the classifier.
LABELLED_SHARE = 0.7
STAPLES_PER_CUSTOMER = 3
STAPLE_SHARE = 0.35
FIRST_NAMES = ("Ada", "Ben", "Chloe", "Dev", "Elif", "Femi", "Gus", "Hana", "Ivan", "Jia")
LAST_NAMES = ("Smith", "Garcia", "Okafor", "Novak", "Tanaka", "Rossi", "Khan", "Berg")
COUNTRIES = ("DE", "FR", "GB", "NL", "ES", "IT", "PL", "SE")


@dataclass(frozen=True)
class ShopConfig:
    """Size and time span of the synthetic shop."""

    customers: int = 2000
    seed: int = 42
    start: str = "2023-01-01"
    end: str = "2025-12-31"
    products_per_category: int = 25


def generate_shop(config: ShopConfig) -> dict[str, pd.DataFrame]:
    """Return the raw contract tables, keyed by table name."""
    rng = np.random.default_rng(config.seed)
    start = np.datetime64(config.start, "s")
    end = np.datetime64(config.end, "s") + np.timedelta64(86399, "s")
    span_days = (end - start) / np.timedelta64(1, "D")

    products = _products(rng, config.products_per_category)
    latent = _latent_customers(rng, config.customers, span_days)
    customers = _customers(rng, latent, start)
    orders = _orders(rng, latent, start, end)
    order_items = _order_items(rng, orders, latent, products)
    orders["amount"] = _order_amounts(order_items, orders)
    events = _events(rng, orders, latent, products, start, end)
    reviews = _reviews(rng, orders, order_items, latent)
    # Tickets draw from their own stream, so the other tables stay as they were before tickets.
    tickets = _tickets(np.random.default_rng([config.seed, 1]), orders, latent, customers, products, order_items, end)
    orders = orders.drop(columns=["experience", "leaves"])
    return {
        "customers": customers,
        "products": products,
        "orders": orders,
        "order_items": order_items,
        "events": events,
        "reviews": reviews,
        "tickets": tickets,
    }


def write_shop(tables: dict[str, pd.DataFrame], out_dir: Path) -> dict[str, int]:
    """Write each table as `<name>.parquet` and return the row counts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_parquet(out_dir / f"{name}.parquet", index=False)
    return {name: len(frame) for name, frame in tables.items()}


def _products(rng: np.random.Generator, per_category: int) -> pd.DataFrame:
    n = per_category * len(CATEGORIES)
    category = np.repeat(np.array(CATEGORIES), per_category)
    price = np.round(rng.lognormal(mean=3.2, sigma=0.7, size=n), 2) + 0.99
    return pd.DataFrame({
        "product_id": np.arange(1, n + 1, dtype=np.int64),
        "product_name": [f"{c.title()} item {i % per_category + 1}" for i, c in enumerate(category)],
        "category": category,
        "price": price,
    })


def _latent_customers(rng: np.random.Generator, n: int, span_days: float) -> pd.DataFrame:
    satisfaction = rng.beta(4.0, 2.0, size=n)
    return pd.DataFrame({
        "customer_id": np.arange(1, n + 1, dtype=np.int64),
        # Sign-ups spread over the span, the last month left out so everyone can act.
        "signup_day": rng.uniform(0, span_days - 30, size=n),
        "rate_per_day": rng.gamma(shape=0.9, scale=1 / 45, size=n),
        "basket_scale": rng.lognormal(mean=0.0, sigma=0.35, size=n),
        "favourite": rng.integers(0, len(CATEGORIES), size=n),
        "deal_prone": rng.beta(1.5, 4.0, size=n),
        "browse_rate": rng.gamma(shape=2.0, scale=1 / 30, size=n),
        "satisfaction": satisfaction,
    })


def _customers(rng: np.random.Generator, latent: pd.DataFrame, start: np.datetime64) -> pd.DataFrame:
    n = len(latent)
    first = rng.choice(FIRST_NAMES, size=n)
    last = rng.choice(LAST_NAMES, size=n)
    ids = latent["customer_id"].to_numpy()
    return pd.DataFrame({
        "customer_id": ids,
        "email": [f"{given.lower()}.{family.lower()}{i}@example.com" for given, family, i in zip(first, last, ids, strict=True)],
        "first_name": first,
        "last_name": last,
        "country": rng.choice(COUNTRIES, size=n),
        "signed_up_at": _to_timestamps(start, latent["signup_day"].to_numpy()),
    })


def _orders(
    rng: np.random.Generator, latent: pd.DataFrame, start: np.datetime64, end: np.datetime64
) -> pd.DataFrame:
    """Simulate every customer's order process, one order index at a time for all at once."""
    span_days = (end - start) / np.timedelta64(1, "D")
    n = len(latent)
    t = latent["signup_day"].to_numpy().copy()
    rate = latent["rate_per_day"].to_numpy()
    satisfaction = latent["satisfaction"].to_numpy()
    alive = np.ones(n, dtype=bool)
    rows_customer, rows_day, rows_experience, rows_leaves = [], [], [], []
    while alive.any():
        idx = np.flatnonzero(alive)
        t[idx] += rng.exponential(1 / rate[idx])
        in_window = t[idx] < span_days
        alive[idx[~in_window]] = False
        idx = idx[in_window]
        if idx.size == 0:
            break
        experience = np.clip(satisfaction[idx] + rng.normal(0, 0.15, size=idx.size), 0, 1)
        rows_customer.append(idx)
        rows_day.append(t[idx].copy())
        rows_experience.append(experience)
        # Leaving for good: mostly the unhappy, and right after a bad experience.
        p_leave = 0.03 + 0.35 * (1 - satisfaction[idx]) ** 2 + 0.25 * (experience < 0.35)
        leaves = rng.random(idx.size) < p_leave
        alive[idx[leaves]] = False
        rows_leaves.append(leaves)
    customer_idx = np.concatenate(rows_customer)
    day = np.concatenate(rows_day)
    experience = np.concatenate(rows_experience)
    leaves = np.concatenate(rows_leaves)
    order = np.lexsort((day, customer_idx))
    customer_idx, day, experience, leaves = customer_idx[order], day[order], experience[order], leaves[order]
    p_cancel = 0.01 + 0.08 * (experience < 0.3)
    p_return = 0.02 + 0.15 * (experience < 0.4)
    roll = rng.random(customer_idx.size)
    status = np.where(roll < p_cancel, "cancelled", np.where(roll < p_cancel + p_return, "returned", "completed"))
    return pd.DataFrame({
        "order_id": np.arange(1, customer_idx.size + 1, dtype=np.int64),
        "customer_id": latent["customer_id"].to_numpy()[customer_idx],
        "ordered_at": _to_timestamps(start, day),
        "status": status,
        "experience": experience,
        "leaves": leaves,
    })


def _order_items(
    rng: np.random.Generator, orders: pd.DataFrame, latent: pd.DataFrame, products: pd.DataFrame
) -> pd.DataFrame:
    per_category = len(products) // len(CATEGORIES)
    lines = 1 + rng.poisson(1.0, size=len(orders))
    order_idx = np.repeat(np.arange(len(orders)), lines)
    customer_row = orders["customer_id"].to_numpy()[order_idx] - 1
    favourite = latent["favourite"].to_numpy()[customer_row]
    category = np.where(rng.random(order_idx.size) < 0.6, favourite, rng.integers(0, len(CATEGORIES), order_idx.size))
    product_idx = category * per_category + rng.integers(0, per_category, size=order_idx.size)
    # Lasting tastes: every customer has a few staple products in their favourite category and
    # buys them again and again; the other lines follow the category or chance.
    staples = (latent["favourite"].to_numpy()[:, None] * per_category
               + rng.integers(0, per_category, size=(len(latent), STAPLES_PER_CUSTOMER)))
    is_staple = rng.random(order_idx.size) < STAPLE_SHARE
    staple_idx = staples[customer_row, rng.integers(0, STAPLES_PER_CUSTOMER, order_idx.size)]
    product_idx = np.where(is_staple, staple_idx, product_idx)
    deal_prone = latent["deal_prone"].to_numpy()[customer_row]
    discounted = rng.random(order_idx.size) < deal_prone
    basket_scale = latent["basket_scale"].to_numpy()[customer_row]
    unit_price = np.round(products["price"].to_numpy()[product_idx] * basket_scale, 2)
    return pd.DataFrame({
        "order_item_id": np.arange(1, order_idx.size + 1, dtype=np.int64),
        "order_id": orders["order_id"].to_numpy()[order_idx],
        "product_id": products["product_id"].to_numpy()[product_idx],
        "quantity": 1 + rng.poisson(0.3, size=order_idx.size),
        "unit_price": unit_price,
        "discount": np.where(discounted, np.round(unit_price * rng.uniform(0.05, 0.3, order_idx.size), 2), 0.0),
    })


def _order_amounts(order_items: pd.DataFrame, orders: pd.DataFrame) -> np.ndarray:
    line_total = (order_items["unit_price"] - order_items["discount"]) * order_items["quantity"]
    totals = line_total.groupby(order_items["order_id"]).sum()
    return np.round(totals.reindex(orders["order_id"]).to_numpy(), 2)


def _events(
    rng: np.random.Generator,
    orders: pd.DataFrame,
    latent: pd.DataFrame,
    products: pd.DataFrame,
    start: np.datetime64,
    end: np.datetime64,
) -> pd.DataFrame:
    """Clickstream: one buying session per order plus browsing sessions without a purchase."""
    span_days = (end - start) / np.timedelta64(1, "D")
    order_day = (orders["ordered_at"].to_numpy() - start) / np.timedelta64(1, "D")
    buy_customer = orders["customer_id"].to_numpy()

    # Browsing sessions: a Poisson count over the active life, plus a thin tail after leaving.
    last_order = pd.Series(order_day).groupby(buy_customer).max()
    signup = latent["signup_day"].to_numpy()
    last_order_day = last_order.reindex(latent["customer_id"]).to_numpy()
    active_until = np.minimum(np.where(np.isnan(last_order_day), signup + 30, last_order_day), span_days)
    active_days = np.maximum(active_until - signup, 1)
    browse_rate = latent["browse_rate"].to_numpy()
    n_active = rng.poisson(browse_rate * active_days)
    n_after = rng.poisson(browse_rate * 0.1 * np.maximum(span_days - active_until, 0))
    browse_customer = np.concatenate([np.repeat(latent["customer_id"].to_numpy(), n_active),
                                      np.repeat(latent["customer_id"].to_numpy(), n_after)])
    lo = np.concatenate([np.repeat(signup, n_active), np.repeat(active_until, n_after)])
    hi = np.concatenate([np.repeat(active_until, n_active), np.repeat(np.full(len(latent), span_days), n_after)])
    browse_day = lo + rng.random(lo.size) * np.maximum(hi - lo, 0)

    session_customer = np.concatenate([buy_customer, browse_customer])
    session_day = np.concatenate([np.maximum(order_day - rng.uniform(0.001, 0.02, order_day.size), 0), browse_day])
    buys = np.concatenate([np.ones(order_day.size, bool), np.zeros(browse_day.size, bool)])
    n_sessions = session_customer.size

    views = 1 + rng.poisson(3.0, size=n_sessions)
    carts = np.where(buys, 1, (rng.random(n_sessions) < 0.15).astype(int))
    n_events = views + carts + buys
    session_idx = np.repeat(np.arange(n_sessions), n_events)
    position = np.arange(session_idx.size) - np.repeat(np.cumsum(n_events) - n_events, n_events)
    view_end = np.repeat(views, n_events)
    cart_end = view_end + np.repeat(carts, n_events)
    event_type = np.where(position < view_end, "product_view", np.where(position < cart_end, "add_to_cart", "purchase"))

    favourite = latent["favourite"].to_numpy()[session_customer[session_idx] - 1]
    per_category = len(products) // len(CATEGORIES)
    category = np.where(rng.random(session_idx.size) < 0.5, favourite, rng.integers(0, len(CATEGORIES), session_idx.size))
    product_id = products["product_id"].to_numpy()[category * per_category + rng.integers(0, per_category, session_idx.size)]
    seconds = session_day[session_idx] * 86400 + position * rng.uniform(5, 90, session_idx.size)
    frame = pd.DataFrame({
        "session_id": session_idx.astype(np.int64) + 1,
        "customer_id": session_customer[session_idx],
        "event_type": event_type,
        "product_id": np.where(event_type == "purchase", pd.NA, product_id),
        "occurred_at": start + (np.minimum(seconds, span_days * 86400 - 1)).astype("timedelta64[s]"),
    })
    frame["product_id"] = frame["product_id"].astype("Int64")
    frame = frame.sort_values(["occurred_at", "session_id"], kind="stable").reset_index(drop=True)
    frame.insert(0, "event_id", np.arange(1, len(frame) + 1, dtype=np.int64))
    return frame


def _reviews(
    rng: np.random.Generator, orders: pd.DataFrame, order_items: pd.DataFrame, latent: pd.DataFrame
) -> pd.DataFrame:
    items = order_items.merge(orders[["order_id", "customer_id", "ordered_at", "experience", "leaves", "status"]],
                              on="order_id")
    items = items[items["status"] != "cancelled"]
    # Strong feelings make reviews: the very happy and the unhappy write more.
    p_review = 0.08 + 0.3 * np.abs(items["experience"].to_numpy() - 0.6)
    items = items[rng.random(len(items)) < p_review].reset_index(drop=True)
    rating = np.clip(np.round(1 + 4 * items["experience"].to_numpy() + rng.normal(0, 0.5, len(items))), 1, 5).astype(int)
    texts = _review_texts(rng, rating, items["experience"].to_numpy(), items["leaves"].to_numpy())
    delay = rng.uniform(1, 14, len(items)) * 86400
    return pd.DataFrame({
        "review_id": np.arange(1, len(items) + 1, dtype=np.int64),
        "customer_id": items["customer_id"].to_numpy(),
        "product_id": items["product_id"].to_numpy(),
        "order_id": items["order_id"].to_numpy(),
        "rating": rating,
        "review_text": texts,
        "reviewed_at": items["ordered_at"].to_numpy() + delay.astype("timedelta64[s]"),
    })


def _review_texts(rng: np.random.Generator, rating: np.ndarray, experience: np.ndarray,
                  leaves: np.ndarray) -> list[str]:
    """An opening mostly in the stars' tone, an aspect that went well or badly with the order's
    experience, and, for half of those about to leave, a word on it (a few loyal ones say
    they will be back)."""
    # Stars and words disagree now and then: one review in ten opens a tone away from its stars.
    tone_index = np.where(rating >= 4, 2, np.where(rating == 3, 1, 0))
    tone_index = np.clip(tone_index + (rng.random(len(rating)) < 0.1) * rng.choice([-1, 1], len(rating)), 0, 2)
    tone = np.asarray(["negative", "neutral", "positive"])[tone_index]
    opening = [OPENINGS[t][i] for t, i in zip(tone, rng.integers(0, 6, len(rating)), strict=True)]
    aspect = np.where(rng.random(len(rating)) < experience, rng.choice(GOOD_ASPECTS, len(rating)),
                      rng.choice(BAD_ASPECTS, len(rating)))
    says = rng.random(len(rating))
    intent = np.where(leaves & (says < 0.5), rng.choice(LEAVING, len(rating)),
                      np.where(~leaves & (says < 0.15), rng.choice(STAYING, len(rating)), ""))
    return [" ".join(part for part in parts if part) for parts in zip(opening, aspect, intent, strict=True)]


def _tickets(rng: np.random.Generator, orders: pd.DataFrame, latent: pd.DataFrame, customers: pd.DataFrame,
             products: pd.DataFrame, order_items: pd.DataFrame, end: np.datetime64) -> pd.DataFrame:
    """Support tickets about orders. Each order may raise several, each intent with its own
    chance and timing: questions and discount requests come before the order, the others after
    it; complaints and late-parcel questions follow bad experiences, returns the returned orders,
    praise the delighted, and a customer who leaves after an order often asks to close their
    account first."""
    customer_row = orders["customer_id"].to_numpy() - 1
    experience = orders["experience"].to_numpy()
    bad = experience < 0.35
    deal_prone = latent["deal_prone"].to_numpy()[customer_row]
    chances = {  # intent: (chance per order, first and last day relative to the order)
        "where_is_my_order": (0.03 + 0.10 * bad, 3, 12),
        "return_or_refund": (np.where(orders["status"] == "returned", 0.6, 0.01), 2, 20),
        "cancel_or_unsubscribe": (0.005 + 0.35 * orders["leaves"].to_numpy(), 5, 40),
        "product_question": (np.full(len(orders), 0.03), -3, 0),
        "complaint": (0.015 + 0.30 * bad, 2, 15),
        "discount_request": (0.08 * deal_prone, -10, 0),
        "praise": (0.06 * (experience > 0.8), 3, 12),
    }
    parts = []
    for intent, (chance, first_day, last_day) in chances.items():
        raised = np.flatnonzero(rng.random(len(orders)) < chance)
        days = rng.uniform(first_day, last_day, raised.size)
        parts.append(pd.DataFrame({"order_row": raised, "intent": intent, "days": days}))
    tickets = pd.concat(parts, ignore_index=True)
    created = orders["ordered_at"].to_numpy()[tickets["order_row"]] + (tickets["days"].to_numpy() * 86400).astype("timedelta64[s]")
    tickets = tickets.assign(created_at=created)
    tickets = tickets[tickets["created_at"] <= end].sort_values(["created_at", "order_row"], kind="stable").reset_index(drop=True)
    order_rows = tickets["order_row"].to_numpy()
    categories = (pd.Series(order_items["product_id"].to_numpy(), index=order_items["order_id"].to_numpy())
                  .map(products.set_index("product_id")["category"]).groupby(level=0).first())
    category = categories.reindex(orders["order_id"].to_numpy()[order_rows]).to_numpy()
    customer_ids = orders["customer_id"].to_numpy()[order_rows]
    emails = customers.set_index("customer_id")["email"].reindex(customer_ids).to_numpy()
    n = len(tickets)
    texts = []
    for i, (intent, order_id, cat, days, email) in enumerate(zip(
            tickets["intent"], orders["order_id"].to_numpy()[order_rows], category, tickets["days"], emails, strict=True)):
        bodies = TICKET_BODIES[intent]
        body = bodies[rng.integers(len(bodies))].format(order=order_id, category=cat, days=max(int(abs(days)), 2))
        contact = ("" if rng.random() > 0.1 else
                   f"You can reach me at {email}." if rng.random() < 0.6 else
                   f"Call me on +44 20 7946 {rng.integers(1000, 9999)}.")
        # One ticket in eight asks about a second thing too; the label is the first.
        also = ("" if rng.random() > 0.125 else
                TICKET_BODIES[other := INTENT_NAMES[rng.integers(len(INTENT_NAMES))]][
                    rng.integers(len(TICKET_BODIES[other]))].format(order=order_id, category=cat, days=2))
        parts = (TICKET_GREETINGS[rng.integers(len(TICKET_GREETINGS))], body, also,
                 TICKET_DETAILS[rng.integers(len(TICKET_DETAILS))], contact,
                 TICKET_SIGNOFFS[rng.integers(len(TICKET_SIGNOFFS))])
        text = " ".join(part for part in parts if part)
        texts.append(text.lower() if i % 9 == 0 else text)
    labelled = rng.random(n) < LABELLED_SHARE
    # Agents slip: one label in thirty names another intent.
    label = np.where(rng.random(n) < 1 / 30, np.asarray(INTENT_NAMES)[rng.integers(len(INTENT_NAMES), size=n)],
                     tickets["intent"].to_numpy())
    return pd.DataFrame({
        "ticket_id": np.arange(1, n + 1, dtype=np.int64),
        "customer_id": customer_ids,
        "created_at": tickets["created_at"].to_numpy(),
        "text": texts,
        "intent": np.where(labelled, label, None),
    })


def _to_timestamps(start: np.datetime64, days: np.ndarray) -> np.ndarray:
    return start + (days * 86400).astype("timedelta64[s]")
