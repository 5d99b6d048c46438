"""Forwards the import path that review classifiers registered before clm 0.2 pickled
(`ml.sentiment.ReviewSentimentPyfunc`) to its home, ml/models/pyfunc.py, so old champions still
load and score. Removed in clm 0.3 (docs/changelog.md)."""

from ml.models.pyfunc import ReviewSentimentPyfunc

__all__ = ["ReviewSentimentPyfunc"]
