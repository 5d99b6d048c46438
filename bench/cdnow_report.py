"""CDNOW: the champion's expected orders against what happened, and against BG/NBD.

Run after `clm ingest cdnow` and `clm run --as-of 1997-10-01` (same CLM_HOME). For every
customer scored as of the date, compares the champion's expected orders in the next H days
with the actual orders in [as_of, as_of + H) and with BG/NBD fitted on the same history
before as_of. Prints correlation, MAE and the aggregate forecast error side by side.

    python bench/cdnow_report.py --as-of 1997-10-01
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta

import numpy as np
import pandas as pd

from ml import settings as settings_module
from ml import warehouse
from ml.baselines import bgnbd_scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(1997, 10, 1))
    args = parser.parse_args()
    settings = settings_module.load()
    horizon = settings.horizon_days
    scores = warehouse.read_frame(
        settings.warehouse,
        "select s.*, f.* exclude (customer_id, as_of) from analytics.customer_scores s "
        "join analytics.customer_features f using (customer_id, as_of) where s.as_of = ?", [args.as_of])
    actual = warehouse.read_frame(
        settings.warehouse,
        "select cast(customer_id as varchar) as customer_id, count(*) as actual_orders "
        f"from read_parquet('{settings.raw_dir / 'orders.parquet'}') "
        "where cast(ordered_at as timestamp) >= ? and cast(ordered_at as timestamp) < ? group by 1",
        [args.as_of, args.as_of + timedelta(days=horizon)])
    frame = scores.merge(actual, on="customer_id", how="left").fillna({"actual_orders": 0})
    truth = frame["actual_orders"].to_numpy("float64")
    candidates = {
        f"champion ({frame['model_name'].iloc[0]} v{frame['model_version'].iloc[0]})": frame["expected_orders"].to_numpy(),
        "BG/NBD (pymc-marketing MAP, history before as_of)": bgnbd_scores(frame, horizon)["expected_orders"].to_numpy(),
    }
    rows = []
    for name, predicted in candidates.items():
        rows.append({
            "model": name,
            "pearson r": np.corrcoef(predicted, truth)[0, 1],
            "MAE (orders)": np.abs(predicted - truth).mean(),
            "forecast total": predicted.sum(),
            "aggregate error": (predicted.sum() - truth.sum()) / truth.sum(),
        })
    table = pd.DataFrame(rows)
    print(f"CDNOW, as of {args.as_of}, next {horizon} days: {len(frame):,} customers, "
          f"{int(truth.sum()):,} actual orders")
    print(table.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
