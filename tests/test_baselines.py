"""The blend candidate: the mean of LightGBM's and BG/NBD's forecasts, saved and loaded whole."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.models.baselines import BlendModel, ClvModel, GbmModel
from ml.models.features import NUMERIC_FEATURES


def examples(rows: int = 800, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.gamma(2.0, 1.0, (rows, len(NUMERIC_FEATURES))), columns=list(NUMERIC_FEATURES))
    frame.loc[: rows // 10, ["bgnbd_expected_orders", "gg_expected_order_value", "bgnbd_p_alive"]] = np.nan
    frame["future_orders"] = rng.poisson(frame["bgnbd_expected_orders"].fillna(0.5).to_numpy())
    frame["future_spend"] = frame["future_orders"] * 30.0
    frame["churned"] = frame["future_orders"] == 0
    frame["last_review_sentiment"] = np.nan
    return frame.assign(as_of=pd.Timestamp("2025-01-01"))


def test_blend_is_the_mean_of_its_parts_and_survives_a_save(tmp_path):
    train = examples()
    blend = BlendModel(GbmModel.fit(train), ClvModel.fit(train))
    scores, gbm, clv = blend.predict(train), blend.gbm.predict(train), blend.clv.predict(train)
    for column in ("churn_probability", "expected_orders", "expected_spend"):
        assert np.allclose(scores[column], (gbm[column] + clv[column]) / 2)
    assert scores["churn_probability"].between(0, 1).all() and scores["value_tier"].notna().all()
    loaded = BlendModel.load(blend.save(tmp_path / "model"))
    pd.testing.assert_frame_equal(loaded.predict(train), scores)
