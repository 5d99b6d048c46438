"""Why a customer's churn risk is what it is, in plain words a CRM team can act on.

Each customer's churn score (log-odds) from a LightGBM model is split into one contribution
per input column by following the customer's path through every tree: each split moves the
score from the node's value to the child's, and that move is credited to the split's feature
(Saabas' path attribution, as in `treeinterpreter`). The contributions add up to the score,
like SHAP values, but cost one leaf look-up per tree instead of TreeSHAP's walk over every
path, which every customer of every run could not afford (LightGBM's `pred_contrib`; the
numbers are in docs/decisions/0003-churn-reasons-by-path-attribution.md).
A feature and its missing-value flag count as one. Only features whose direction is known
(ml/data/feature_schema.churn_risk: recency, order and visit counts, ratings...) can be
reasons: LightGBM is held to those directions, so a 5-star rating or a recent visit can never
read as a reason to leave, while tenure or basket size, which move risk either way, explain
nothing a CRM team can act on. The three such features pushing the risk up most become sentences such as
"no order in 120 days (usually every 30)" or "latest review: 1 star".

Reasons come from a LightGBM churn model: the champion's when it is LightGBM, the blend's
LightGBM half, and for the other families the LightGBM candidate of the registry (`@lightgbm`),
which learnt from the same features on the same split.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ml.data.feature_schema import churn_risk
from ml.models.features import SENTIMENTS, numeric_matrix, score_sentiment

TOP_REASONS = 3


def _n(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _recency(row) -> str:
    usual = row.mean_interpurchase_days
    return f"no order in {_n(row.recency_days)} days" + ("" if np.isnan(usual) else f" (usually every {_n(usual)})")


def _count(value: float, noun: str) -> str:
    """'1 visit', '3 visits'."""
    return f"{_n(value)} {noun}" + ("" if round(value) == 1 else "s")


def _trend(noun: str, last: float, previous: float) -> str:
    return f"{_count(last, noun)} in the last 30 days (the 30 before: {_n(previous)})"


# A sentence per feature that can be a reason (feature_schema.churn_risk), from the customer's row.
SENTENCES: dict[str, Callable[..., str]] = {
    "recency_days": _recency,
    "last_order_gap_days": lambda r: f"waited {_n(r.last_order_gap_days)} days between the last two orders",
    "frequency": lambda r: f"{_n(r.frequency)} order(s) so far",
    "monetary": lambda r: f"{_n(r.monetary)} spent so far",
    "mean_interpurchase_days": lambda r: f"orders every {_n(r.mean_interpurchase_days)} days on average",
    "orders_last_30d": lambda r: _trend("order", r.orders_last_30d, r.orders_prev_30d),
    "spend_last_30d": lambda r: f"spent {_n(r.spend_last_30d)} in the last 30 days (the 30 before: {_n(r.spend_prev_30d)})",
    "sessions_last_30d": lambda r: _trend("visit", r.sessions_last_30d, r.sessions_prev_30d),
    "sessions_per_week": lambda r: f"{_n(r.sessions_per_week, 1)} visits a week",
    "sessions": lambda r: f"{_count(r.sessions, 'visit')} in all",
    "product_views": lambda r: f"{_count(r.product_views, 'product view')} in all",
    "purchase_events": lambda r: f"{_count(r.purchase_events, 'purchase')} on the site in all",
    "add_to_carts": lambda r: f"{_n(r.add_to_carts)} products put in the cart in all",
    "view_to_cart_rate": lambda r: f"puts {r.view_to_cart_rate:.0%} of the products they view in the cart",
    "cart_to_purchase_rate": lambda r: f"buys {r.cart_to_purchase_rate:.0%} of what they put in the cart",
    "cancel_rate": lambda r: f"cancelled {r.cancel_rate:.0%} of orders",
    "last_review_rating": lambda r: f"latest review: {_count(r.last_review_rating, 'star')}",
    "mean_rating": lambda r: f"mean rating {_n(r.mean_rating, 1)} stars",
    "negative_review_share": lambda r: f"{r.negative_review_share:.0%} of reviews negative",
    "last_review_sentiment": lambda r: f"latest review reads {SENTIMENTS[score_sentiment(r.last_review_sentiment)]}",
    "mean_review_sentiment": lambda r: f"their reviews read {SENTIMENTS[score_sentiment(r.mean_review_sentiment)]} on the whole",
    "bgnbd_p_alive": lambda r: (f"their order rhythm expects {_n(r.bgnbd_expected_orders, 1)} orders in the horizon "
                                f"({r.bgnbd_p_alive:.0%} likely still a customer)"),
    "coupons_redeemed": lambda r: f"{_count(r.coupons_redeemed, 'coupon')} redeemed so far",
    "coupons_redeemed_last_30d": lambda r: f"{_count(r.coupons_redeemed_last_30d, 'coupon')} redeemed in the last 30 days",
    "complaints_last_30d": lambda r: f"{_count(r.complaints_last_30d, 'complaint')} to support in the last 30 days",
    "cancel_requests_last_30d": lambda r: ("asked support to cancel or unsubscribe in the last 30 days"
                                           + ("" if round(r.cancel_requests_last_30d) == 1
                                              else f" ({_n(r.cancel_requests_last_30d)} times)")),
    "last_ticket_sentiment": lambda r: f"latest support ticket reads {SENTIMENTS[score_sentiment(r.last_ticket_sentiment)]}",
}
# Features told in another's sentence (a count's last and previous 30 days read as one trend;
# BG/NBD's expected orders and P(alive) as one rhythm): their attributions count for that one,
# so a customer never gets the same reason twice.
TOLD_WITH = {"orders_prev_30d": "orders_last_30d", "sessions_prev_30d": "sessions_last_30d",
             "spend_prev_30d": "spend_last_30d", "bgnbd_expected_orders": "bgnbd_p_alive"}
# What a missing value means, where it means something; other missing values read "none".
MISSING = {
    "recency_days": "has never ordered",
    "last_review_rating": "no review yet",
    "mean_rating": "no review yet",
    "last_review_sentiment": "no review yet",
    "last_ticket_sentiment": "no support ticket yet",
    "bgnbd_p_alive": "too few orders to know their rhythm",
}


def sentence(feature: str, row) -> str:
    value = getattr(row, feature)
    if pd.isna(value):
        return MISSING.get(feature, f"{feature.replace('_', ' ')}: none")
    return SENTENCES[feature](row)


class PathAttribution:
    """The per-leaf feature contributions of every tree of a booster, worked out once."""

    def __init__(self, booster):
        dump = booster.dump_model()
        self.booster = booster
        self.columns = dump["max_feature_idx"] + 1
        self.leaves = [self._tree(tree) for tree in dump["tree_info"]]

    def _tree(self, tree: dict) -> np.ndarray:
        table = np.zeros((max(tree["num_leaves"], 1), self.columns))
        stack = [(tree["tree_structure"], np.zeros(self.columns))]
        while stack:
            node, path = stack.pop()
            if "leaf_index" in node or "split_feature" not in node:
                table[node.get("leaf_index", 0)] = path
                continue
            for child in (node["left_child"], node["right_child"]):
                step = path.copy()
                step[node["split_feature"]] += child.get("internal_value", child.get("leaf_value", 0.0)) - node["internal_value"]
                stack.append((child, step))
        return table

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """(rows, columns): what each input column adds to each row's raw score."""
        leaves = self.booster.predict(x, pred_leaf=True).reshape(len(x), -1)
        out = np.zeros((len(x), self.columns))
        for tree, table in enumerate(self.leaves):
            out += table[leaves[:, tree]]
        return out


class Explainer:
    """Churn reasons from a fitted LightGBM model (GbmModel): its churn booster and features."""

    def __init__(self, gbm):
        self.attribution = PathAttribution(gbm.churn)
        self.features = list(gbm.features)

    def top_features(self, frame: pd.DataFrame, k: int = TOP_REASONS) -> np.ndarray:
        """Per row, the k features that raise the churn score most (None where fewer than k raise it)."""
        contributions = self.attribution.contributions(numeric_matrix(frame, self.features))
        n = len(self.features)
        per_feature = contributions[:, :n] + contributions[:, n:2 * n]  # a value and its missing flag
        for told, into in TOLD_WITH.items():
            if told in self.features and into in self.features:
                per_feature[:, self.features.index(into)] += per_feature[:, self.features.index(told)]
                per_feature[:, self.features.index(told)] = 0.0
        directed = churn_risk()
        per_feature[:, [i for i, name in enumerate(self.features) if name not in directed]] = 0.0
        order = np.argsort(-per_feature, axis=1, kind="stable")[:, :k]
        names = np.asarray(self.features, dtype=object)[order]
        return np.where(np.take_along_axis(per_feature, order, axis=1) > 0, names, None)

    def reasons(self, frame: pd.DataFrame, k: int = TOP_REASONS) -> pd.DataFrame:
        """`churn_reason_1..k` per row of `frame`: sentences for the features raising its churn risk most."""
        tops = self.top_features(frame, k)
        rows = list(frame[self.features].astype("float64").itertuples(index=False))
        return pd.DataFrame({f"churn_reason_{i + 1}": [None if name is None else sentence(name, row)
                                                       for name, row in zip(tops[:, i], rows, strict=True)]
                             for i in range(k)}, index=frame.index)
