"""Fitting and judging: the training config, one fine-tuning loop for the customer model and
the review classifier, the candidates of every family on one time-based split, their metrics,
MLflow logging, and the registry with its gate, promotion and rollback. May import models,
data and actions; never the run."""
