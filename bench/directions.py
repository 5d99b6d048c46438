"""What holding LightGBM to the features' churn directions costs or gains, on a shop's history.

Run after `clm run` (any shop: the demo shop, `clm ingest cdnow`, `clm ingest completejourney`)
in the same CLM_HOME. On each of the gate's holdout cutoffs LightGBM is refitted on the rows
before it twice, held to the directions of ml/data/feature_schema.churn_risk (monotone
constraints, as registered) and free, and both are scored on that cutoff (bench/holdout.py):
churn ROC-AUC and PR-AUC, orders Pearson r and the orders' aggregate error, per cutoff and as
their mean.

    python bench/directions.py demo

The table is also written to docs/benchmarks/directions-<name>.md (bench/report.py).
"""

from __future__ import annotations

import argparse

import holdout
import report

from ml.data.feature_schema import churn_risk
from ml.models.baselines import GbmModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="what the shop in CLM_HOME is called in the report (demo, cdnow, ...)")
    args = parser.parse_args()
    rows = holdout.compare({"held": lambda train: GbmModel.fit(train, directions=churn_risk()),
                            "free": lambda train: GbmModel.fit(train)}, "directions")
    table = report.table(rows, floatfmt=".4f")
    print(table)
    report.write(f"directions-{args.name}", f"LightGBM held to the churn directions, or free: {args.name}", table,
                 "Each holdout cutoff scored by LightGBM refitted on the rows before it, as the gate judges it.")


if __name__ == "__main__":
    main()
