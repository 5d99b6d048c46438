"""CDNOW: every model family's forecasts as of a date against what happened next.

Run after `clm ingest cdnow` and `clm run --as-of 1997-10-01` (same CLM_HOME). For every
customer scored as of the date it compares, over the next H days, the expected orders with
the actual orders in [as_of, as_of + H) and the churn probability with whether the customer
ordered at all. Rows: the published scores (the champion), then the latest registered version
of each family (`@transformer`, `@lightgbm`, `@bg_nbd`, `@blend`) scored on the same customers.

    python bench/cdnow_report.py --as-of 1997-10-01

The table is also written to docs/benchmarks/cdnow.md (bench/report.py).
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta

import mlflow
import numpy as np
import report
from sklearn.metrics import roc_auc_score

from ml import settings as settings_module
from ml.data import warehouse
from ml.models.clv import with_clv_features
from ml.models.features import model_input
from ml.training import tracking

FAMILIES = ("transformer", "lightgbm", "bg_nbd", "blend")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(1997, 10, 1))
    args = parser.parse_args()
    settings = settings_module.load()
    tracking.configure(settings)
    horizon = settings.horizon_days
    features = warehouse.read_frame(settings.analytics_db, "select * from customer_features where as_of = ?",
                                    [args.as_of])
    published = warehouse.read_frame(settings.analytics_db, "select * from customer_scores where as_of = ?",
                                     [args.as_of])
    actual = warehouse.read_frame(
        settings.warehouse,
        "select cast(customer_id as varchar) as customer_id, count(*) as actual_orders "
        f"from read_parquet('{settings.raw_dir / 'orders.parquet'}') "
        "where cast(ordered_at as timestamp) >= ? and cast(ordered_at as timestamp) < ? group by 1",
        [args.as_of, args.as_of + timedelta(days=horizon)])
    frame = with_clv_features(features, horizon).merge(actual, on="customer_id", how="left").fillna({"actual_orders": 0})
    truth = frame["actual_orders"].to_numpy("float64")

    champion = frame[["customer_id"]].merge(published, on="customer_id", how="left")
    forecasts = {f"champion: {champion['model_family'].iloc[0]} v{champion['model_version'].iloc[0]} (published)": champion}
    inputs = model_input(frame)
    for family in FAMILIES:
        version = mlflow.MlflowClient().get_model_version_by_alias(settings.model_name, family).version
        model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}@{family}")
        forecasts[f"{family} v{version}"] = model.predict(inputs)

    rows = []
    for name, scores in forecasts.items():
        predicted = scores["expected_orders"].to_numpy("float64")
        rows.append({
            "model": name,
            "orders pearson r": np.corrcoef(predicted, truth)[0, 1],
            "orders MAE": np.abs(predicted - truth).mean(),
            "forecast total": predicted.sum(),
            "aggregate error": (predicted.sum() - truth.sum()) / truth.sum(),
            "churn ROC-AUC": roc_auc_score(truth == 0, scores["churn_probability"].to_numpy("float64")),
        })
    summary = f"CDNOW, as of {args.as_of}, next {horizon} days: {len(frame):,} customers, {int(truth.sum()):,} actual orders"
    table = report.table(rows, floatfmt=".3f")
    print(summary)
    print(table)
    report.write("cdnow", "CDNOW: every family's forecast against what happened", table,
                 f"{summary}. Run after `clm ingest cdnow` and `clm run --as-of {args.as_of}`; the champion's "
                 "row is the published scores, the others each family's latest registered version.")


if __name__ == "__main__":
    main()
