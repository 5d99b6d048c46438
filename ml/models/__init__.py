"""What a logged MLflow model needs to load and predict, and nothing more: the features and
the text rendering, value tiers, batching, the transformer and its predictor, LightGBM, BG/NBD
and their blend, the review classifier, and the pyfunc wrappers with the family table.

Every logged model ships this folder as its code (ml/training/tracking.py), so it imports no
other part of clm, not even the shared settings."""
