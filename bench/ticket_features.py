"""What the support ticket features add to the churn model, on a shop's history.

Run after `clm run` in the same CLM_HOME (a shop that exports tickets: the demo shop). On each
of the gate's holdout cutoffs LightGBM, held to the churn directions as registered, is refitted
on the rows before it with every feature and without the ticket features
(ml/models/features.TICKET_FEATURES), and both are scored on that cutoff (bench/holdout.py):
churn ROC-AUC and PR-AUC, orders Pearson r and the orders' aggregate error, per cutoff and as
their mean.

    python bench/ticket_features.py demo

The table is also written to docs/benchmarks/ticket-features-<name>.md (bench/report.py).
"""

from __future__ import annotations

import argparse

import holdout
import report

from ml.data.feature_schema import churn_risk
from ml.models.baselines import GbmModel
from ml.models.features import NUMERIC_FEATURES, TICKET_FEATURES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="what the shop in CLM_HOME is called in the report (demo, ...)")
    args = parser.parse_args()
    without = [name for name in NUMERIC_FEATURES if name not in TICKET_FEATURES]
    rows = holdout.compare({"with tickets": lambda train: GbmModel.fit(train, directions=churn_risk()),
                            "without": lambda train: GbmModel.fit(train, directions=churn_risk(), features=without)},
                           "features")
    table = report.table(rows, floatfmt=".4f")
    print(table)
    report.write(f"ticket-features-{args.name}", f"Churn model with and without the ticket features: {args.name}",
                 table, f"LightGBM held to the churn directions, refitted on the rows before each holdout cutoff "
                        f"with every numeric feature, or without {', '.join(TICKET_FEATURES)}.")


if __name__ == "__main__":
    main()
