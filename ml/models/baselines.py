"""The baseline model families, candidates like the transformer: fitted on the same split,
saved as a folder, scored through the same pyfunc with the same output columns.

* `GbmModel`: LightGBM on the same numeric features as the transformer (a churn classifier,
  Poisson regressors for orders and spend), held to each feature's known direction where the
  trainer gives them (ml/data/feature_schema.churn_risk: more recent orders never raise churn
  risk, a better rating never does), so that what it learns, and the reasons told from it, read
  the way a CRM team reads them;
* `ClvModel`: BG/NBD + Gamma-Gamma. The fits themselves are the clv features
  (ml/models/clv.py, fitted at each as-of date on that date's history), so the model reads them from
  its input; it only learns a Platt calibration of churn and what to expect of customers who
  have not bought yet, whom BG/NBD does not describe;
* `ParetoModel`: Pareto/NBD + Gamma-Gamma, the other classic (customers may leave at any time,
  not only after a purchase), its churn probability P(no purchase in the horizon) as the model
  gives it;
* `BlendModel`: the mean of LightGBM and BG/NBD. Their errors differ (LightGBM learns the shop's features,
  BG/NBD the buy-till-you-die story), so their mean forecasts better than either on CDNOW.

Both give each customer's `review_sentiment` as the sentiment of their latest review from the
features (they have no text model).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ml.models import tiers
from ml.models.features import NUMERIC_FEATURES, monotone_constraints, numeric_matrix

OUTPUT_COLUMNS = ("churn_probability", "expected_orders", "expected_spend", "value_tier", "review_sentiment")
LIGHTGBM_PARAMS = {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20,
                   "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8, "verbose": -1, "n_jobs": 2}


def scores_frame(frame: pd.DataFrame, churn: np.ndarray, orders: np.ndarray, spend: np.ndarray,
                 cuts: list[float]) -> pd.DataFrame:
    """The output every family gives, in the order of OUTPUT_COLUMNS."""
    return pd.DataFrame({
        "churn_probability": np.clip(churn, 0.0, 1.0),
        "expected_orders": np.maximum(orders, 0.0),
        "expected_spend": np.maximum(spend, 0.0),
        "value_tier": tiers.tier_names(cuts, np.maximum(spend, 0.0)),
        "review_sentiment": frame["last_review_sentiment"].to_numpy("float64"),
    })


@dataclass
class GbmModel:
    churn: object
    orders: object
    spend: object
    tier_cuts: list[float]
    # The numeric features the boosters were trained on, in order.
    features: list[str] = field(default_factory=lambda: list(NUMERIC_FEATURES))

    family = "lightgbm"

    @classmethod
    def fit(cls, train: pd.DataFrame, seed: int = 42, directions: dict[str, int] | None = None,
            features: Sequence[str] = NUMERIC_FEATURES) -> GbmModel:
        """`directions`: the features' known churn directions (ml/data/feature_schema.churn_risk)
        the boosters are held to; None leaves them free. `features`: the numeric features they
        learn from (all of them, unless a benchmark measures what some add)."""
        import lightgbm as lgb

        x = numeric_matrix(train, features)
        params = {**LIGHTGBM_PARAMS, "random_state": seed, "monotone_constraints_method": "intermediate"}
        rising = monotone_constraints(features, directions or {})
        falling = monotone_constraints(features, directions or {}, -1)
        return cls(
            churn=lgb.LGBMClassifier(**params, monotone_constraints=rising).fit(x, train["churned"].astype(int)).booster_,
            orders=lgb.LGBMRegressor(objective="poisson", **params, monotone_constraints=falling)
            .fit(x, train["future_orders"]).booster_,
            spend=lgb.LGBMRegressor(objective="poisson", **params, monotone_constraints=falling)
            .fit(x, train["future_spend"]).booster_,
            tier_cuts=tiers.cut_points(train["future_spend"].to_numpy("float64")),
            features=list(features),
        )

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        x = numeric_matrix(frame, self.features)
        return scores_frame(frame, self.churn.predict(x), self.orders.predict(x), self.spend.predict(x), self.tier_cuts)

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("churn", "orders", "spend"):
            getattr(self, name).save_model(str(folder / f"{name}.txt"))
        (folder / "schema.json").write_text(json.dumps({"tier_cuts": self.tier_cuts, "features": self.features}))
        return folder

    @classmethod
    def load(cls, folder: Path) -> GbmModel:
        import lightgbm as lgb

        boosters = {name: lgb.Booster(model_file=str(folder / f"{name}.txt")) for name in ("churn", "orders", "spend")}
        return cls(**boosters, **json.loads((folder / "schema.json").read_text()))


@dataclass
class Newcomers:
    """What the probabilistic models expect of customers who have not bought yet (they describe
    buyers only): what such customers' training rows did, on average."""

    churn_rate: float
    orders: float
    spend: float

    @classmethod
    def of(cls, rows: pd.DataFrame) -> Newcomers:
        if not len(rows):
            return cls(0.0, 0.0, 0.0)
        return cls(*(float(rows[column].astype(float).mean()) for column in ("churned", "future_orders", "future_spend")))

    def scores(self, frame: pd.DataFrame, fitted: np.ndarray, churn: np.ndarray, orders: np.ndarray,
               cuts: list[float]) -> pd.DataFrame:
        """Buyers' scores where `fitted`, the newcomers' averages elsewhere; spend is orders times
        Gamma-Gamma's expected order value."""
        value = frame["gg_expected_order_value"].fillna(0.0).to_numpy("float64")
        return scores_frame(frame, np.where(fitted, churn, self.churn_rate), np.where(fitted, orders, self.orders),
                            np.where(fitted, orders * value, self.spend), cuts)


@dataclass
class ClvModel:
    # Platt scaling of log(expected orders) into P(no order in the horizon), fitted on buyers.
    churn_slope: float
    churn_intercept: float
    # Customers who have not bought yet: what the training rows of such customers did.
    new_churn_rate: float
    new_orders: float
    new_spend: float
    tier_cuts: list[float]

    family = "bg_nbd"

    @classmethod
    def fit(cls, train: pd.DataFrame, seed: int = 42) -> ClvModel:
        from sklearn.linear_model import LogisticRegression

        fitted = train["bgnbd_expected_orders"].notna().to_numpy()
        buyers = train[fitted]
        slope, intercept = 1.0, 0.0
        if buyers["churned"].nunique() == 2:
            platt = LogisticRegression(C=100.0).fit(log_orders(buyers), buyers["churned"].astype(int))
            slope, intercept = float(platt.coef_[0, 0]), float(platt.intercept_[0])
        newcomers = Newcomers.of(train[~fitted])
        return cls(slope, intercept, newcomers.churn_rate, newcomers.orders, newcomers.spend,
                   tiers.cut_points(train["future_spend"].to_numpy("float64")))

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        churn = 1.0 / (1.0 + np.exp(-(self.churn_slope * log_orders(frame)[:, 0] + self.churn_intercept)))
        return Newcomers(self.new_churn_rate, self.new_orders, self.new_spend).scores(
            frame, frame["bgnbd_expected_orders"].notna().to_numpy(), churn,
            frame["bgnbd_expected_orders"].fillna(0.0).to_numpy("float64"), self.tier_cuts)

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "clv.json").write_text(json.dumps(asdict(self)))
        return folder

    @classmethod
    def load(cls, folder: Path) -> ClvModel:
        return cls(**json.loads((folder / "clv.json").read_text()))


@dataclass
class ParetoModel:
    """Pareto/NBD + Gamma-Gamma: the churn probability is the model's own P(no purchase in the
    horizon) and the orders its expectation (the clv features pnbd_*, fitted at each as-of
    date), uncalibrated: what the published model says, to be judged as it is."""

    newcomers: Newcomers
    tier_cuts: list[float]

    family = "pareto_nbd"

    @classmethod
    def fit(cls, train: pd.DataFrame, seed: int = 42) -> ParetoModel:
        fitted = train["pnbd_expected_orders"].notna().to_numpy()
        return cls(Newcomers.of(train[~fitted]), tiers.cut_points(train["future_spend"].to_numpy("float64")))

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.newcomers.scores(frame, frame["pnbd_expected_orders"].notna().to_numpy(),
                                     frame["pnbd_no_order_probability"].fillna(1.0).to_numpy("float64"),
                                     frame["pnbd_expected_orders"].fillna(0.0).to_numpy("float64"), self.tier_cuts)

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "pareto_nbd.json").write_text(json.dumps(asdict(self)))
        return folder

    @classmethod
    def load(cls, folder: Path) -> ParetoModel:
        saved = json.loads((folder / "pareto_nbd.json").read_text())
        return cls(Newcomers(**saved["newcomers"]), saved["tier_cuts"])


@dataclass
class BlendModel:
    """Equal weights: a weight fitted on one holdout would chase its noise."""

    gbm: GbmModel
    clv: ClvModel

    family = "blend"

    @classmethod
    def of(cls, fitted: dict[str, object]) -> BlendModel:
        """The blend of the two halves already fitted on the same rows, by family."""
        return cls(fitted[GbmModel.family], fitted[ClvModel.family])

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        gbm, clv = self.gbm.predict(frame), self.clv.predict(frame)
        mean = {column: (gbm[column].to_numpy() + clv[column].to_numpy()) / 2
                for column in ("churn_probability", "expected_orders", "expected_spend")}
        return scores_frame(frame, mean["churn_probability"], mean["expected_orders"], mean["expected_spend"],
                            self.gbm.tier_cuts)

    def save(self, folder: Path) -> Path:
        self.gbm.save(folder / GbmModel.family)
        self.clv.save(folder / ClvModel.family)
        return folder

    @classmethod
    def load(cls, folder: Path) -> BlendModel:
        return cls(GbmModel.load(folder / GbmModel.family), ClvModel.load(folder / ClvModel.family))


def log_orders(frame: pd.DataFrame) -> np.ndarray:
    return np.log(frame["bgnbd_expected_orders"].fillna(0.0).to_numpy("float64") + 1e-6).reshape(-1, 1)
