"""The metrics people in this field read, and the plots behind them.

Churn: ROC-AUC, PR-AUC, Brier score, expected calibration error, lift in the top 10%.
Orders: MAE, Pearson correlation, Poisson deviance and aggregate error.
Value: Spearman correlation of predicted and actual spend, normalised Gini, decile MAPE (the
error of the mean spend per predicted decile) and the aggregate forecast error.
Tiers and review sentiment: macro-F1.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    ConfusionMatrixDisplay,
    average_precision_score,
    brier_score_loss,
    f1_score,
    mean_poisson_deviance,
    roc_auc_score,
    roc_curve,
)


def churn_metrics(truth: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    both_classes = len(np.unique(truth)) == 2
    return {
        "roc_auc": float(roc_auc_score(truth, probability)) if both_classes else float("nan"),
        "pr_auc": float(average_precision_score(truth, probability)) if both_classes else float("nan"),
        "brier": float(brier_score_loss(truth, probability)),
        "ece": expected_calibration_error(truth, probability),
        "lift_top10": lift_at(truth, probability, 0.10),
        "churn_rate": float(truth.mean()),
        "mean_probability": float(probability.mean()),
        "holdout_rows": float(len(truth)),
    }


def value_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {
        "spend_spearman": float(spearmanr(actual, predicted).statistic) if np.std(predicted) > 0 else 0.0,
        "spend_gini": normalised_gini(actual, predicted),
        "spend_decile_mape": decile_mape(actual, predicted),
        "spend_aggregate_error": float((predicted.sum() - actual.sum()) / max(actual.sum(), 1e-9)),
    }


def order_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Expected orders against the orders that happened: the BG/NBD family's home ground."""
    return {
        "orders_mae": float(np.abs(predicted - actual).mean()),
        "orders_pearson": float(np.corrcoef(actual, predicted)[0, 1]) if np.std(predicted) > 0 and np.std(actual) > 0 else 0.0,
        # Mean Poisson deviance, the proper score of a forecast count (lower is better).
        "orders_poisson_deviance": float(mean_poisson_deviance(actual, np.clip(predicted, 1e-9, None))),
        "orders_aggregate_error": float((predicted.sum() - actual.sum()) / max(actual.sum(), 1e-9)),
    }


def tier_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {"tier_macro_f1": float(f1_score(actual, predicted, average="macro", zero_division=0))}


def expected_calibration_error(truth: np.ndarray, probability: np.ndarray, bins: int = 10) -> float:
    """Mean |observed - predicted| over equal-count bins of the probability, weighted by bin size.

    Bin edges are quantiles and equal probabilities share a bin: splitting ties by row order
    would make a constant forecast look miscalibrated whenever the rows happen to be sorted.
    """
    edges = np.quantile(probability, np.linspace(0, 1, bins + 1)[1:-1])
    index = np.searchsorted(edges, probability, side="right")
    return float(sum(abs(truth[index == b].mean() - probability[index == b].mean()) * (index == b).sum()
                     for b in np.unique(index)) / len(truth))


def lift_at(truth: np.ndarray, score: np.ndarray, share: float) -> float:
    """Positive rate among the top `share` by score, over the overall positive rate."""
    top = np.argsort(-score)[: max(1, int(len(score) * share))]
    return float(truth[top].mean() / truth.mean()) if truth.mean() > 0 else float("nan")


def normalised_gini(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Gini of the actual values ordered by prediction, over the Gini of the perfect order."""
    def gini(order_by: np.ndarray) -> float:
        ordered = actual[np.argsort(-order_by, kind="stable")]
        cumulative = np.cumsum(ordered) / max(ordered.sum(), 1e-12)
        return float(cumulative.sum() / len(actual) - (len(actual) + 1) / (2 * len(actual)))

    best = gini(actual)
    return gini(predicted) / best if best else 0.0


def decile_mape(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Mean absolute percentage error of the mean spend per decile of predicted spend."""
    deciles = pd.qcut(pd.Series(predicted).rank(method="first"), 10, labels=False)
    grouped = pd.DataFrame({"actual": actual, "predicted": predicted, "decile": deciles}).groupby("decile").mean()
    nonzero = grouped[grouped["actual"] > 0]
    return float((abs(nonzero["predicted"] - nonzero["actual"]) / nonzero["actual"]).mean()) if len(nonzero) else float("nan")


def churn_curves(truth: np.ndarray, probability: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The points of the churn forecast's calibration and cumulative gain curves, (x, y) each:
    what the plots draw and what the warehouse keeps (ml/training/history.py)."""
    return {"calibration": calibration_points(truth, probability), "cumulative_gain": gain_points(truth, probability)}


def calibration_points(truth: np.ndarray, probability: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Mean predicted churn probability (x) against the observed churn rate (y) in `bins`
    equal-count bins of the probability (sklearn's quantile bins; tied edges merge bins)."""
    observed, predicted = calibration_curve(truth, probability, n_bins=bins, strategy="quantile")
    return predicted, observed


def gain_points(truth: np.ndarray, score: np.ndarray, steps: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Share of customers contacted, highest score first (x: 0 to 1 in `steps` steps), against
    the share of all churners among them (y): from (0, 0) to (1, 1). None without churners."""
    if len(truth) == 0 or truth.sum() == 0:
        return np.array([]), np.array([])
    found = np.concatenate([[0.0], np.cumsum(truth[np.argsort(-score, kind="stable")])]) / truth.sum()
    contacted = np.round(np.linspace(0, 1, steps + 1) * len(truth)).astype(int)
    return contacted / len(truth), found[contacted]


def log_plots(truth: np.ndarray, probability: np.ndarray, tier_truth: np.ndarray, tier_predicted: np.ndarray,
              curves: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
    """Log ROC, calibration, cumulative gain (the points of `churn_curves`, given or computed)
    and tier confusion matrix to the active MLflow run."""
    import mlflow

    curves = curves or churn_curves(truth, probability)
    for name, figure in _plots(truth, probability, tier_truth, tier_predicted, curves).items():
        mlflow.log_figure(figure, f"plots/{name}.png")
        plt.close(figure)


def _plots(truth, probability, tier_truth, tier_predicted, curves) -> dict[str, plt.Figure]:
    figures = {}
    if len(np.unique(truth)) == 2:
        fpr, tpr, _ = roc_curve(truth, probability)
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.plot(fpr, tpr, label=f"AUC {roc_auc_score(truth, probability):.3f}")
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
        ax.set(xlabel="False positive rate", ylabel="True positive rate", title="Churn ROC (holdout)")
        ax.legend(loc="lower right")
        figures["roc"] = fig
    predicted, observed = curves["calibration"]
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(predicted, observed, marker="o")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    ax.set(xlabel="Predicted churn probability", ylabel="Observed churn rate", title="Calibration (holdout)")
    figures["calibration"] = fig
    contacted, found = curves["cumulative_gain"]
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(contacted, found, marker=".", label="model")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random")
    ax.set(xlabel="Share of customers contacted", ylabel="Share of churners found", title="Cumulative gain")
    ax.legend(loc="lower right")
    figures["gain"] = fig
    fig, ax = plt.subplots(figsize=(4, 4))
    ConfusionMatrixDisplay.from_predictions(tier_truth, tier_predicted, labels=["low", "medium", "high"], ax=ax,
                                            colorbar=False)
    ax.set_title("Value tier (holdout)")
    figures["tier_confusion"] = fig
    return figures
