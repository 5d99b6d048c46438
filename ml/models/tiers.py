"""Value tiers of next-H-day spend: low up to the training median, medium to the 80th
percentile, high above. Every model family cuts its forecast at the cut points of its own
training data, and evaluation cuts the actual spend at those of the split, so tiers compare.

The names are the dbt var value_tiers (dbt_project.yml; tests/test_schema.py checks they agree).
"""

from __future__ import annotations

import numpy as np

VALUE_TIERS = ("low", "medium", "high")
TIER_QUANTILES = (0.5, 0.8)


def cut_points(spend: np.ndarray) -> list[float]:
    return np.quantile(np.asarray(spend, dtype="float64"), TIER_QUANTILES).tolist()


def tier_index(cuts: list[float], spend: np.ndarray) -> np.ndarray:
    """0 low, 1 medium, 2 high."""
    return np.searchsorted(np.asarray(cuts), spend, side="left").clip(0, len(VALUE_TIERS) - 1)


def tier_names(cuts: list[float], spend: np.ndarray) -> np.ndarray:
    return np.asarray(VALUE_TIERS)[tier_index(cuts, spend)]
