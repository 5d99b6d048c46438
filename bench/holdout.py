"""LightGBM variants judged as the training run's gate judges the families: on each of its
holdout cutoffs (the last `gate_cutoffs` training cutoffs) each variant is refitted on the rows
before the cutoff and scored on that cutoff's rows. Read by the benches that ask what a choice
about LightGBM's inputs or constraints costs or gains (bench/directions.py, bench/ticket_features.py)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from ml import settings as settings_module
from ml.models.baselines import GbmModel
from ml.run.steps import training_examples
from ml.training.config import TrainConfig
from ml.training.transformer import day, time_split

METRICS = ("churn ROC-AUC", "churn PR-AUC", "orders pearson r", "orders aggregate error")


def compare(variants: dict[str, Callable[[pd.DataFrame], GbmModel]], column: str) -> list[dict]:
    """One row per holdout cutoff and variant (named in `column`), then each variant's mean over
    the cutoffs; the training examples are CLM_HOME's last build."""
    split = time_split(training_examples(settings_module.load()), TrainConfig.gate_cutoffs)
    rows = []
    for cutoff in split.cutoffs:
        train, holdout = split.before(cutoff), split.at(cutoff)
        orders = holdout["future_orders"].to_numpy("float64")
        churned = holdout["churned"].astype(int)
        for name, fit in variants.items():
            scores = fit(train).predict(holdout)
            predicted = scores["expected_orders"].to_numpy("float64")
            rows.append({"cutoff": day(cutoff), column: name,
                         "churn ROC-AUC": roc_auc_score(churned, scores["churn_probability"]),
                         "churn PR-AUC": average_precision_score(churned, scores["churn_probability"]),
                         "orders pearson r": np.corrcoef(predicted, orders)[0, 1],
                         "orders aggregate error": (predicted.sum() - orders.sum()) / orders.sum()})
    for name in variants:
        mine = [r for r in rows if r[column] == name]
        rows.append({"cutoff": "mean", column: name, **{k: float(np.mean([r[k] for r in mine])) for k in METRICS}})
    return rows
