"""Every candidate judged the same way on the time-based holdout.

`holdout_metrics` turns one candidate's scores into the metrics the registry gate and the
MLflow comparison table read; `log_evaluation` logs them with the plots; `log_comparison`
puts every candidate side by side.
"""

from __future__ import annotations

import pandas as pd
from sklearn.metrics import f1_score

from ml.models import tiers
from ml.models.features import score_sentiment, sentiment_labels
from ml.training import metrics as m


def holdout_metrics(scores: pd.DataFrame, holdout: pd.DataFrame, truth_cuts: list[float]) -> dict[str, float]:
    """`truth_cuts` cut the actual spend into tiers, the same for every candidate of a split."""
    churned = holdout["churned"].astype(int).to_numpy()
    spend = holdout["future_spend"].to_numpy("float64")
    actual_tiers = tiers.tier_names(truth_cuts, spend)
    return {
        **m.churn_metrics(churned, scores["churn_probability"].to_numpy()),
        **m.value_metrics(spend, scores["expected_spend"].to_numpy()),
        **m.order_metrics(holdout["future_orders"].to_numpy("float64"), scores["expected_orders"].to_numpy("float64")),
        **m.tier_metrics(actual_tiers, scores["value_tier"].to_numpy()),
        **sentiment_metrics(scores, holdout),
    }


def sentiment_metrics(scores: pd.DataFrame, holdout: pd.DataFrame) -> dict[str, float]:
    """Macro-F1 of the latest review's sentiment against its stars, where the model scores it."""
    if "review_sentiment" not in scores:
        return {}
    labels = sentiment_labels(holdout)
    known = labels >= 0
    if not known.any():
        return {}  # no reviews in the holdout (an order log alone): nothing to score
    predicted = score_sentiment(scores["review_sentiment"].to_numpy()[known])
    return {"sentiment_macro_f1": float(f1_score(labels[known], predicted, average="macro", zero_division=0))}


def log_evaluation(scores: pd.DataFrame, holdout: pd.DataFrame, truth_cuts: list[float]) -> dict[str, float]:
    """The candidate's holdout metrics and plots, logged to the active MLflow run; returned."""
    import mlflow

    metrics = holdout_metrics(scores, holdout, truth_cuts)
    mlflow.log_metrics({f"holdout_{k}": v for k, v in metrics.items()})
    m.log_plots(holdout["churned"].astype(int).to_numpy(), scores["churn_probability"].to_numpy(),
                tiers.tier_names(truth_cuts, holdout["future_spend"].to_numpy("float64")), scores["value_tier"].to_numpy())
    return metrics


def log_comparison(candidates: dict[str, dict[str, float]]) -> pd.DataFrame:
    """One row per candidate with the same holdout metrics, logged as comparison.json/.md."""
    import mlflow

    comparison = pd.DataFrame([{"model": name, **values} for name, values in candidates.items()])
    mlflow.log_table(comparison, "comparison.json")
    mlflow.log_text(comparison.to_markdown(index=False, floatfmt=".4f"), "comparison.md")
    return comparison
