"""What the models see of a customer: numeric features and a text rendering.

The columns are the dbt marts' (dbt_project/models/marts/_marts__models.yml, the one place
they are defined and described); tests/test_schema.py fails when this list and dbt's manifest
disagree.

The same two functions serve training and scoring, so a model can never be scored on inputs
prepared differently from the ones it learned on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

# Counts and money are heavy-tailed: the model sees log1p of them.
LOG_FEATURES = (
    "recency_days", "frequency", "monetary", "tenure_days", "avg_order_value",
    "days_since_first_order", "last_order_gap_days",
    "mean_interpurchase_days", "std_interpurchase_days", "avg_items_per_order",
    "orders_last_30d", "orders_prev_30d", "spend_last_30d", "spend_prev_30d",
    "sessions", "product_views", "add_to_carts", "purchase_events",
    "sessions_last_30d", "sessions_prev_30d", "review_count",
    "campaigns_received", "campaigns_received_last_30d", "coupons_redeemed", "coupons_redeemed_last_30d",
    "tickets_last_30d", "complaints_last_30d", "cancel_requests_last_30d", "days_since_last_ticket",
)
PLAIN_FEATURES = (
    "discount_share", "cancel_rate", "return_rate", "sessions_per_week", "view_to_cart_rate",
    "cart_to_purchase_rate", "top_category_share", "mean_rating", "negative_review_share",
    "last_review_rating", "mean_review_sentiment", "last_review_sentiment", "last_ticket_sentiment",
)
# Model-based features (ml/models/clv.py: BG/NBD, Pareto/NBD and Gamma-Gamma fitted at each as-of
# date on that date's rows); the rest are dbt's customer_features columns.
LOG_CLV_FEATURES = ("bgnbd_expected_orders", "gg_expected_order_value", "pnbd_expected_orders")
PLAIN_CLV_FEATURES = ("bgnbd_p_alive", "pnbd_no_order_probability")
NUMERIC_FEATURES = LOG_FEATURES + PLAIN_FEATURES + LOG_CLV_FEATURES + PLAIN_CLV_FEATURES
# The support ticket features (dbt's int_tickets_aggregated_as_of), numeric ones.
TICKET_FEATURES = ("tickets_last_30d", "complaints_last_30d", "cancel_requests_last_30d", "days_since_last_ticket",
                   "last_ticket_sentiment")
# What models saved before the clv features existed were trained on.
NUMERIC_FEATURES_V1 = tuple(name for name in LOG_FEATURES + PLAIN_FEATURES if name not in TICKET_FEATURES)
TEXT_COLUMNS = ("top_category", "last_review_text", "last_ticket_intent")
INPUT_COLUMNS = ("customer_id", "as_of") + NUMERIC_FEATURES + TEXT_COLUMNS
# customer_features columns the models are not given: spend_trend_30d is spend_last_30d -
# spend_prev_30d, both of which they see; the median gap is the step of the naive next-order
# date that expected_next_order_date is judged against (the models see the mean gap).
NOT_MODEL_INPUTS = ("spend_trend_30d", "median_interpurchase_days")
def monotone_constraints(names: Sequence[str], directions: dict[str, int], sign: int = 1) -> list[int]:
    """LightGBM's monotone_constraints for numeric_matrix(frame, names): each feature's churn
    direction (+1 risk rises with it, -1 falls; ml/data/feature_schema.churn_risk) times `sign`
    (-1 for what falls as churn rises: orders, spend), none on the was-missing flags."""
    return [sign * directions.get(name, 0) for name in names] + [0] * len(names)


# The sentiments of a review, in the order of the model heads' logits.
SENTIMENTS = ("negative", "neutral", "positive")
# training_examples = the customer_features columns + these.
LABEL_COLUMNS = ("horizon_days", "future_orders", "future_spend", "churned", "days_to_next_order")


def model_input(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns a model is given, in canonical types: numbers as float64 (NULL as NaN)."""
    out = frame[list(INPUT_COLUMNS)].copy()
    out[list(NUMERIC_FEATURES)] = out[list(NUMERIC_FEATURES)].astype("float64")
    out["customer_id"] = out["customer_id"].astype(str)
    out["as_of"] = pd.to_datetime(out["as_of"])
    return out


def numeric_matrix(frame: pd.DataFrame, names: Sequence[str] = NUMERIC_FEATURES) -> np.ndarray:
    """Numeric features `names` (a saved model passes the ones it was trained on), log-scaled
    where heavy-tailed, with a was-missing flag per column.

    Missing values are meaningful here (no orders, no reviews), so they become 0 plus a flag
    rather than an imputed guess.
    """
    values = frame[list(names)].astype("float64").to_numpy()
    missing = np.isnan(values)
    values = np.where(missing, 0.0, values)
    log_idx = [i for i, name in enumerate(names) if name in LOG_FEATURES + LOG_CLV_FEATURES]
    values[:, log_idx] = np.sign(values[:, log_idx]) * np.log1p(np.abs(values[:, log_idx]))
    return np.concatenate([values, missing.astype("float64")], axis=1).astype("float32")


def star_sentiment(rating: np.ndarray) -> np.ndarray:
    """The sentiment a star rating states: 0 negative (1-2 stars), 1 neutral (3), 2 positive (4-5)."""
    return np.where(rating <= 2, 0, np.where(rating < 4, 1, 2))


def score_sentiment(score):
    """The sentiment a score in [-1, 1] states, cut where the dbt macro sentiment_label cuts:
    0 negative up to -1/3, 2 positive from 1/3, 1 neutral between."""
    return np.where(np.less_equal(score, -1 / 3), 0, np.where(np.greater_equal(score, 1 / 3), 2, 1))


def sentiment_labels(frame: pd.DataFrame) -> np.ndarray:
    """The star sentiment of the latest review; -100 (ignored) without one."""
    rating = frame["last_review_rating"].to_numpy("float64")
    return np.where(np.isnan(rating) | frame["last_review_text"].isna().to_numpy(), -100, star_sentiment(rating))


# How customers are written as text; a saved model keeps the version it learnt (Preprocess).
RENDERING = 3


def render_text(frame: pd.DataFrame, version: int = RENDERING) -> list[str]:
    """One short English description per customer.

    Version 3 (current) opens with the latest review, the latest support ticket and the
    category, what only the text carries, and ends with the behaviour the numeric features also
    hold, so that truncation to the model's max_length cuts numbers, not the review. Version 2
    told no ticket; version 1 (models saved before it) told the behaviour first."""
    render = {1: _render_row_v1, 2: _render_row_v2}.get(version, _render_row)
    return [render(row) for row in frame.itertuples(index=False)]


def _render_row(row) -> str:
    return " ".join(_review(row, stars=True) + _ticket(row) + _category(row) + _orders(row) + _visits(row)
                    + _tenure(row))


def _render_row_v2(row) -> str:
    return " ".join(_review(row, stars=True) + _category(row) + _orders(row) + _visits(row) + _tenure(row))


def _render_row_v1(row) -> str:
    return " ".join(_tenure(row) + _orders(row) + _category(row) + _visits(row) + _review(row, stars=False))


def _tenure(row) -> list[str]:
    return [f"Customer for {_num(row.tenure_days)} days."]


def _orders(row) -> list[str]:
    if not (_present(row.frequency) and row.frequency > 0):
        return ["Has not ordered yet."]
    return [f"{int(row.frequency)} orders, last one {_num(row.recency_days)} days ago, "
            f"{_num(row.monetary)} spent in total. {int(row.orders_last_30d)} orders in the last 30 days."]


def _category(row) -> list[str]:
    return [f"Mostly buys {row.top_category}."] if _present(row.top_category) else []


def _visits(row) -> list[str]:
    if not _present(row.sessions):
        return []
    return [f"{int(row.sessions_last_30d)} visits in the last 30 days, {int(row.sessions)} in total."]


def _review(row, stars: bool) -> list[str]:
    """The review count and mean rating and the latest review's text; with `stars` (version 2)
    the text comes first, with its rating."""
    if not (_present(row.review_count) and row.review_count > 0):
        return []
    summary = f"{int(row.review_count)} reviews, mean rating {row.mean_rating:.1f}."
    if not _present(row.last_review_text):
        return [summary]
    if stars:
        return [f'Latest review, {_num(row.last_review_rating)} stars: "{row.last_review_text}"', summary]
    return [summary, f'Latest review: "{row.last_review_text}"']


def _ticket(row) -> list[str]:
    """The latest support ticket's intent, age and tone."""
    if not _present(row.last_ticket_intent):
        return []
    tone = "" if not _present(row.last_ticket_sentiment) else \
        f", reads {SENTIMENTS[int(score_sentiment(row.last_ticket_sentiment))]}"
    return [f"Latest support ticket, {_num(row.days_since_last_ticket)} days ago: "
            f"{row.last_ticket_intent.replace('_', ' ')}{tone}."]


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value)) and value is not pd.NA


def _num(value) -> str:
    return "unknown" if not _present(value) else f"{float(value):.0f}"
