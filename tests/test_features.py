"""What the models see of a customer: the numeric matrix, the labels and the text rendering."""

import numpy as np
import pandas as pd

from ml.models.features import NUMERIC_FEATURES, model_input, numeric_matrix, render_text, sentiment_labels


def customers() -> pd.DataFrame:
    base = {name: 0.0 for name in NUMERIC_FEATURES}
    buyer = {**base, "tenure_days": 400.0, "frequency": 3.0, "recency_days": 12.0, "monetary": 250.4,
             "orders_last_30d": 1.0, "sessions": 20.0, "sessions_last_30d": 2.0, "review_count": 1.0,
             "mean_rating": 1.0, "last_review_rating": 1.0, "tickets_last_30d": 1.0, "complaints_last_30d": 1.0,
             "days_since_last_ticket": 3.0, "last_ticket_sentiment": -0.8}
    browser = {**base, "tenure_days": 30.0, "recency_days": np.nan, "sessions": np.nan, "mean_rating": np.nan,
               "last_review_rating": np.nan, "days_since_last_ticket": np.nan, "last_ticket_sentiment": np.nan}
    frame = pd.DataFrame([buyer, browser])
    frame["customer_id"], frame["as_of"] = ["7", "8"], pd.Timestamp("2026-01-01")
    frame["top_category"] = ["garden", None]
    frame["last_review_text"] = ["Arrived broken, never again", None]
    frame["last_ticket_intent"] = ["complaint", None]
    return frame


def test_the_rendering_tells_the_latest_review_and_ticket_then_the_behaviour():
    buyer, browser = render_text(customers())
    assert buyer == ('Latest review, 1 stars: "Arrived broken, never again" 1 reviews, mean rating 1.0. Latest '
                     'support ticket, 3 days ago: complaint, reads negative. Mostly buys garden. 3 orders, last one '
                     '12 days ago, 250 spent in total. 1 orders in the last 30 days. 2 visits in the last 30 days, 20 '
                     'in total. Customer for 400 days.')
    assert browser == "Has not ordered yet. Customer for 30 days."


def test_models_saved_with_the_second_rendering_tell_no_ticket():
    buyer, browser = render_text(customers(), version=2)
    assert buyer == ('Latest review, 1 stars: "Arrived broken, never again" 1 reviews, mean rating 1.0. Mostly buys '
                     'garden. 3 orders, last one 12 days ago, 250 spent in total. 1 orders in the last 30 days. 2 visits '
                     'in the last 30 days, 20 in total. Customer for 400 days.')
    assert browser == "Has not ordered yet. Customer for 30 days."


def test_models_saved_with_the_first_rendering_keep_it():
    buyer, browser = render_text(customers(), version=1)
    assert buyer == ('Customer for 400 days. 3 orders, last one 12 days ago, 250 spent in total. 1 orders in the '
                     'last 30 days. Mostly buys garden. 2 visits in the last 30 days, 20 in total. 1 reviews, '
                     'mean rating 1.0. Latest review: "Arrived broken, never again"')
    assert browser == "Customer for 30 days. Has not ordered yet."


def test_numbers_are_log_scaled_with_a_flag_for_each_missing_value():
    matrix = numeric_matrix(customers())
    assert matrix.shape == (2, 2 * len(NUMERIC_FEATURES)) and matrix.dtype == np.float32
    monetary = NUMERIC_FEATURES.index("monetary")
    assert matrix[0, monetary] == np.float32(np.log1p(250.4))
    recency = NUMERIC_FEATURES.index("recency_days")
    assert matrix[1, recency] == 0 and matrix[1, len(NUMERIC_FEATURES) + recency] == 1
    assert matrix[0, len(NUMERIC_FEATURES) + recency] == 0


def test_sentiment_labels_come_from_the_stars_of_a_review_with_text():
    frame = customers()
    assert sentiment_labels(frame).tolist() == [0, -100]
    frame.loc[0, "last_review_rating"] = 3
    assert sentiment_labels(frame).tolist() == [1, -100]


def test_model_input_types_every_column_as_the_signature_says():
    frame = model_input(customers().astype({"frequency": "int64"}))
    assert frame["customer_id"].tolist() == ["7", "8"]
    assert all(frame[name].dtype == "float64" for name in NUMERIC_FEATURES)


def test_a_model_reads_the_features_it_was_trained_on():
    from ml.models.features import NUMERIC_FEATURES_V1
    from ml.models.predictor import Preprocess

    frame = customers().assign(bgnbd_p_alive=0.5, bgnbd_expected_orders=1.0, gg_expected_order_value=30.0)
    legacy = Preprocess([0.0] * 2 * len(NUMERIC_FEATURES_V1), [1.0] * 2 * len(NUMERIC_FEATURES_V1), 64, 128, 1.0, [1, 2])
    assert numeric_matrix(frame, legacy.feature_names).shape == (2, 2 * len(NUMERIC_FEATURES_V1))
    current = Preprocess.fit(numeric_matrix(frame), np.array([1.0, 2.0]), 64, 128)
    assert current.feature_names == list(NUMERIC_FEATURES)
    assert numeric_matrix(frame, current.feature_names).shape[1] == len(current.numeric_mean)
