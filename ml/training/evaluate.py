"""Every candidate judged the same way on the time-based holdout cutoffs.

`holdout_metrics` turns one candidate's scores on one cutoff into the metrics the registry gate
and the MLflow comparison table read; `log_backtest` logs them for every holdout cutoff with
their mean and spread, and the plots of the newest, whose points it returns for the warehouse
(ml/training/history.py); `log_comparison` puts every candidate side by side, each cutoff
beside the mean.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from ml.models import tiers
from ml.models.clv import NEXT_ORDER_DAYS, ORDER_BY_DAYS
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


def next_order_metrics(holdout: pd.DataFrame) -> dict[str, float]:
    """The expected next order (BG/NBD's timing, ml/models/clv.py) against the day each customer
    did order, and the naive date a CRM team would read off the history, last order + the
    customer's median gap (never before the cutoff: a customer who is late is due now).

    MAE in days over the customers who ordered within the horizon and have a median gap, for
    both; the model's also over everyone who ordered. P(ordered by day d) at ORDER_BY_DAYS
    within the horizon: its calibration error and its mean against the share that did."""
    actual = holdout["days_to_next_order"].to_numpy("float64")
    ordered = ~np.isnan(actual)
    predicted = holdout[NEXT_ORDER_DAYS].to_numpy("float64")
    naive = np.maximum(holdout["median_interpurchase_days"].to_numpy("float64")
                       - holdout["recency_days"].to_numpy("float64"), 0.0)
    both = ordered & ~np.isnan(predicted) & ~np.isnan(naive)
    out = {"next_order_customers": float(both.sum())}
    if both.any():
        out |= {"next_order_mae_days": float(np.abs(predicted - actual)[both].mean()),
                "naive_next_order_mae_days": float(np.abs(naive - actual)[both].mean())}
    fitted = ~np.isnan(predicted)
    if (ordered & fitted).any():
        out["next_order_mae_days_all_buyers"] = float(np.abs(predicted - actual)[ordered & fitted].mean())
    horizon = float(holdout["horizon_days"].iloc[0])
    for days in (d for d in ORDER_BY_DAYS if d <= horizon):
        probability = holdout[f"bgnbd_order_within_{days}d"].to_numpy("float64")[fitted]
        happened = (ordered & (np.nan_to_num(actual, nan=np.inf) < days))[fitted].astype(float)
        if len(happened):
            out[f"order_within_{days}d_ece"] = m.expected_calibration_error(happened, probability)
            out[f"order_within_{days}d_predicted"] = float(probability.mean())
            out[f"order_within_{days}d_observed"] = float(happened.mean())
    return out


def log_next_order(cutoffs: dict[str, pd.DataFrame]) -> dict[str, float]:
    """next_order_metrics on each holdout cutoff (by date), logged to the active run as
    `<metric>/<date>` and their mean as `<metric>`; the mean is returned."""
    import mlflow

    from ml.training.registry import mean_metrics

    by_cutoff = {date: next_order_metrics(holdout) for date, holdout in cutoffs.items()}
    summary = mean_metrics(by_cutoff)
    mlflow.log_metrics(summary)
    mlflow.log_metrics({f"{k}/{date}": v for date, metrics in by_cutoff.items() for k, v in metrics.items()})
    return summary


def log_backtest(cutoffs: dict[str, tuple[pd.DataFrame, pd.DataFrame]], truth_cuts: list[float]
                 ) -> tuple[dict[str, float], dict[str, dict[str, float]], dict[str, dict[str, list[float]]]]:
    """A candidate's scores and the holdout rows on each holdout cutoff (by date, oldest first):
    the metrics on each, logged as `holdout_<metric>/<date>`, and their mean and spread, logged
    as `holdout_<metric>` and `holdout_<metric>_sd`, with the plots of the newest cutoff.
    Returns (mean and spread, metrics by cutoff, the newest cutoff's churn curves as plotted:
    {curve: {"x": [...], "y": [...]}}, see metrics.churn_curves)."""
    import mlflow

    from ml.training.registry import mean_metrics

    by_cutoff = {date: holdout_metrics(scores, holdout, truth_cuts) for date, (scores, holdout) in cutoffs.items()}
    summary = mean_metrics(by_cutoff)
    summary.update({f"{key}_sd": float(np.std([m[key] for m in by_cutoff.values()])) for key in list(summary)})
    mlflow.log_metrics({f"holdout_{k}": v for k, v in summary.items()})
    mlflow.log_metrics({f"holdout_{k}/{date}": v for date, metrics in by_cutoff.items() for k, v in metrics.items()})
    scores, holdout = cutoffs[max(cutoffs)]
    churned, probability = holdout["churned"].astype(int).to_numpy(), scores["churn_probability"].to_numpy()
    curves = m.churn_curves(churned, probability)
    m.log_plots(churned, probability, tiers.tier_names(truth_cuts, holdout["future_spend"].to_numpy("float64")),
                scores["value_tier"].to_numpy(), curves)
    return summary, by_cutoff, {name: {"x": x.tolist(), "y": y.tolist()} for name, (x, y) in curves.items()}


def log_comparison(candidates: dict[str, dict[str, dict[str, float]]]) -> pd.DataFrame:
    """One row per candidate and holdout cutoff, then the candidate's mean over them, with the
    same metrics, logged as comparison.json/.md."""
    import mlflow

    from ml.training.registry import mean_metrics

    rows = []
    for name, by_cutoff in candidates.items():
        rows += [{"model": name, "cutoff": date, **metrics} for date, metrics in sorted(by_cutoff.items())]
        rows.append({"model": name, "cutoff": "mean", **mean_metrics(by_cutoff)})
    comparison = pd.DataFrame(rows)
    mlflow.log_table(comparison, "comparison.json")
    mlflow.log_text(comparison.to_markdown(index=False, floatfmt=".4f"), "comparison.md")
    return comparison
