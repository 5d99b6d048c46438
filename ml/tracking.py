"""Forwards the import path that customer models registered before clm 0.2 pickled
(`ml.tracking.CustomerModelPyfunc`) to its home, ml/models/pyfunc.py, so old champions still
load and score. Removed in clm 0.3 (docs/changelog.md)."""

from ml.models.pyfunc import CustomerModelPyfunc

__all__ = ["CustomerModelPyfunc"]
