"""The real data sets: every model family's forecasts as of a date against what happened next.

Run after `clm ingest cdnow` and `clm run --as-of 1997-10-01`, or after `clm ingest
completejourney` and `clm run --as-of 2017-10-01` (same CLM_HOME). For every customer scored as
of the date it compares, over the next H days, the expected orders with the actual orders in
[as_of, as_of + H), the expected spend with the actual spend (rank correlation) and the churn
probability with whether the customer ordered at all. Rows: the published scores (the
champion), then the latest registered version of each family (`@transformer`, `@lightgbm`,
`@bg_nbd`, `@pareto_nbd`, `@blend`) scored on the same customers, and LightGBM refitted on the
same training examples with its features' directions free, to show what the monotone
constraints cost. Below the table: the expected next order date against the naive one (last
order + median gap) and P(ordered by day d) against what happened, and the churn alerts
published.

    python bench/real_data_report.py cdnow
    python bench/real_data_report.py completejourney

The table is also written to docs/benchmarks/<data set>.md (bench/report.py).
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta

import mlflow
import numpy as np
import report
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from ml import settings as settings_module
from ml.data import warehouse
from ml.data.feature_schema import churn_risk
from ml.models.baselines import GbmModel
from ml.models.clv import with_clv_features
from ml.models.features import model_input
from ml.run.steps import training_examples
from ml.training import tracking
from ml.training.evaluate import next_order_metrics

FAMILIES = ("transformer", "lightgbm", "bg_nbd", "pareto_nbd", "blend")
# Each data set's name in the docs, its ingest command and the as-of date its report uses.
DATA_SETS = {"cdnow": ("CDNOW", "clm ingest cdnow", date(1997, 10, 1)),
             "completejourney": ("The Complete Journey", "clm ingest completejourney", date(2017, 10, 1))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", choices=sorted(DATA_SETS), help="the data set landed in CLM_HOME")
    parser.add_argument("--as-of", type=date.fromisoformat, help="the scoring date (default: the data set's)")
    args = parser.parse_args()
    title, ingest, default_as_of = DATA_SETS[args.data]
    args.as_of = args.as_of or default_as_of
    settings = settings_module.load()
    tracking.configure(settings)
    horizon = settings.horizon_days
    features = warehouse.read_frame(settings.analytics_db, "select * from customer_features where as_of = ?",
                                    [args.as_of])
    published = warehouse.read_frame(settings.analytics_db, "select * from customer_scores where as_of = ?",
                                     [args.as_of])
    actual = warehouse.read_frame(
        settings.warehouse,
        "select cast(customer_id as varchar) as customer_id, count(*) as actual_orders, "
        "sum(cast(amount as double)) as actual_spend, (epoch(min(cast(ordered_at as timestamp))) - epoch(?)) / 86400.0 "
        "as days_to_next_order "
        f"from read_parquet('{settings.raw_dir / 'orders.parquet'}') "
        "where cast(ordered_at as timestamp) >= ? and cast(ordered_at as timestamp) < ? group by 1",
        [args.as_of, args.as_of, args.as_of + timedelta(days=horizon)])
    frame = (with_clv_features(features, horizon).merge(actual, on="customer_id", how="left")
             .fillna({"actual_orders": 0, "actual_spend": 0.0}))
    truth = frame["actual_orders"].to_numpy("float64")

    champion = frame[["customer_id"]].merge(published, on="customer_id", how="left")
    forecasts = {f"champion: {champion['model_family'].iloc[0]} v{champion['model_version'].iloc[0]} (published)": champion}
    inputs = model_input(frame)
    for family in FAMILIES:
        version = mlflow.MlflowClient().get_model_version_by_alias(settings.model_name, family).version
        model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}@{family}")
        forecasts[f"{family} v{version}"] = model.predict(inputs)
    examples = training_examples(settings)
    for name, directions in (("directions held (as registered)", churn_risk()), ("directions free", None)):
        forecasts[f"lightgbm refitted, {name}"] = GbmModel.fit(examples, directions=directions).predict(inputs)

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
            "spend spearman": spearmanr(scores["expected_spend"].to_numpy("float64"), frame["actual_spend"]).statistic,
        })
    summary = (f"{title}, as of {args.as_of}, next {horizon} days: {len(frame):,} customers, "
               f"{int(truth.sum()):,} actual orders")
    table = report.table(rows, floatfmt=".3f")
    timing = next_order_table(frame.assign(horizon_days=horizon))
    alerts = alert_counts(settings, args.as_of, published)
    print(summary)
    print(table)
    print(timing)
    print(alerts)
    report.write(args.data, f"{title}: every family's forecast against what happened",
                 f"{table}\n\nThe expected next order date (BG/NBD) against last order + median gap:\n\n{timing}\n\n{alerts}",
                 f"{summary}. Run after `{ingest}` and `clm run --as-of {args.as_of}`; the champion's "
                 "row is the published scores, the others each family's latest registered version and "
                 "LightGBM refitted on the same training examples with and without its monotone constraints.")


def next_order_table(frame) -> str:
    """evaluate.next_order_metrics on the scored customers, as a two-column table."""
    metrics = next_order_metrics(frame)
    return report.table([{"metric": k, "value": v} for k, v in metrics.items()], floatfmt=".3f")


def alert_counts(settings, as_of: date, published) -> str:
    """The alerts published for the date, against how many the former fixed threshold (0.7) flagged."""
    count, threshold = warehouse.read_frame(
        settings.analytics_db, "select count(*) as n, max(alert_threshold) as threshold from churn_alerts where as_of = ?",
        [as_of]).iloc[0]
    return (f"Churn alerts: {int(count):,} published (churn probability threshold {threshold:.3f}, at most the "
            f"dbt var churn_alert_capacity); the former fixed threshold 0.7 flagged "
            f"{int((published['churn_probability'] >= 0.7).sum()):,} of {len(published):,}.")


if __name__ == "__main__":
    main()
