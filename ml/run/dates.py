"""The scoring date of a run, decided in one place for `clm run`, `clm train`, `clm backfill`
and the DAGs' scheduled runs; dbt receives it (CLM_AS_OF) and never decides it itself."""

from __future__ import annotations

from datetime import date
from pathlib import Path


def choose(requested: date | None, scheduled_for: date | None, day_after_last_order: date | None) -> date:
    """The date asked for (`--as-of`, the DAG's `as_of` param) wins. A scheduled run scores the
    end of its data interval, but never past the day after the shop's last valid order: a shop
    whose exports stopped is rescored on that day rather than finding every customer gone.
    Without either, it is the day after the last valid order, the shop's 'today'."""
    if requested is not None:
        return requested
    if scheduled_for is None:
        if day_after_last_order is None:
            raise ValueError("There is no valid order to take a scoring date from; land data first "
                             "(`clm ingest folder DIR`) or give one with --as-of YYYY-MM-DD.")
        return day_after_last_order
    return scheduled_for if day_after_last_order is None else min(scheduled_for, day_after_last_order)


def scoring_date(raw_dir: Path, requested: date | None = None, scheduled_for: date | None = None) -> date:
    """`choose` with the landed raw orders' last valid day (ml/data/ingest.py); a scheduled run
    on a folder without valid orders keeps its own date, and check_raw says what is missing."""
    from ml.data.contract import ContractError
    from ml.data.ingest import day_after_last_order

    if requested is not None:
        return requested
    try:
        last = day_after_last_order(raw_dir)
    except ContractError:
        if scheduled_for is None:
            raise
        last = None
    return choose(None, scheduled_for, last)
