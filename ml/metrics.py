"""The churn metrics people in this field read, and the plots behind them."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score, roc_curve  # noqa: E402


def churn_metrics(truth: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    both_classes = len(np.unique(truth)) == 2
    return {
        "roc_auc": float(roc_auc_score(truth, probability)) if both_classes else float("nan"),
        "pr_auc": float(average_precision_score(truth, probability)) if both_classes else float("nan"),
        "brier": float(brier_score_loss(truth, probability)),
        "log_loss": float(log_loss(truth, np.clip(probability, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "churn_rate": float(truth.mean()),
        "mean_probability": float(probability.mean()),
    }


def log_churn_plots(truth: np.ndarray, probability: np.ndarray) -> None:
    """Log the ROC and calibration plots of the holdout to the active MLflow run."""
    import mlflow

    for name, figure in _churn_plots(truth, probability).items():
        mlflow.log_figure(figure, f"plots/{name}.png")
        plt.close(figure)


def _churn_plots(truth: np.ndarray, probability: np.ndarray) -> dict[str, plt.Figure]:
    figures = {}
    if len(np.unique(truth)) == 2:
        fpr, tpr, _ = roc_curve(truth, probability)
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.plot(fpr, tpr, label=f"AUC {roc_auc_score(truth, probability):.3f}")
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
        ax.set(xlabel="False positive rate", ylabel="True positive rate", title="Churn ROC (holdout)")
        ax.legend(loc="lower right")
        figures["roc"] = fig
    observed, predicted = calibration_curve(truth, probability, n_bins=10, strategy="quantile")
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(predicted, observed, marker="o")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    ax.set(xlabel="Predicted churn probability", ylabel="Observed churn rate", title="Calibration (holdout)")
    figures["calibration"] = fig
    return figures
