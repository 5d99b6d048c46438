"""What holding LightGBM to the features' churn directions costs or gains, on a shop's history.

Run after `clm run` (any shop: the demo shop, `clm ingest cdnow`, `clm ingest completejourney`)
in the same CLM_HOME. On each of the gate's holdout cutoffs (the last `gate_cutoffs` training
cutoffs, as the training run judges the families) LightGBM is refitted on the rows before it
twice, held to the directions of ml/data/feature_schema.churn_risk (monotone constraints, as
registered) and free, and both are scored on that cutoff: churn ROC-AUC, orders Pearson r and
the orders' aggregate error, per cutoff and as their mean.

    python bench/directions.py demo

The table is also written to docs/benchmarks/directions-<name>.md (bench/report.py).
"""

from __future__ import annotations

import argparse

import numpy as np
import report
from sklearn.metrics import roc_auc_score

from ml import settings as settings_module
from ml.data.feature_schema import churn_risk
from ml.models.baselines import GbmModel
from ml.run.steps import training_examples
from ml.training.config import TrainConfig
from ml.training.transformer import day, time_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="what the shop in CLM_HOME is called in the report (demo, cdnow, ...)")
    args = parser.parse_args()
    split = time_split(training_examples(settings_module.load()), TrainConfig.gate_cutoffs)
    rows = []
    for cutoff in split.cutoffs:
        train, holdout = split.before(cutoff), split.at(cutoff)
        orders = holdout["future_orders"].to_numpy("float64")
        for name, directions in (("held", churn_risk()), ("free", None)):
            scores = GbmModel.fit(train, directions=directions).predict(holdout)
            predicted = scores["expected_orders"].to_numpy("float64")
            rows.append({"cutoff": day(cutoff), "directions": name,
                         "churn ROC-AUC": roc_auc_score(holdout["churned"].astype(int), scores["churn_probability"]),
                         "orders pearson r": np.corrcoef(predicted, orders)[0, 1],
                         "orders aggregate error": (predicted.sum() - orders.sum()) / orders.sum()})
    for name in ("held", "free"):
        mine = [r for r in rows if r["directions"] == name]
        rows.append({"cutoff": "mean", "directions": name,
                     **{k: float(np.mean([r[k] for r in mine])) for k in ("churn ROC-AUC", "orders pearson r",
                                                                          "orders aggregate error")}})
    table = report.table(rows, floatfmt=".4f")
    print(table)
    report.write(f"directions-{args.name}", f"LightGBM held to the churn directions, or free: {args.name}", table,
                 "Each holdout cutoff scored by LightGBM refitted on the rows before it, as the gate judges it.")


if __name__ == "__main__":
    main()
