"""Rules the steps apply, as plain functions: the scoring date and the quarantine verdict, with
no dbt, Airflow or training behind them (the fast lane, `make check`)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from ml.data.contract import ContractError, limits
from ml.run.dates import choose, scoring_date
from ml.run.steps import quarantine_verdict

LAST = date(2026, 1, 1)  # the day after the last valid order


def test_the_date_asked_for_wins_over_everything():
    assert choose(date(2025, 6, 1), date(2026, 3, 1), LAST) == date(2025, 6, 1)


def test_a_scheduled_run_scores_its_interval_end_but_never_past_the_shops_today():
    assert choose(None, date(2025, 12, 20), LAST) == date(2025, 12, 20)
    assert choose(None, date(2026, 3, 1), LAST) == LAST  # exports stopped: rescore that day
    assert choose(None, date(2026, 3, 1), None) == date(2026, 3, 1)  # nothing valid landed: check_raw says so


def test_a_run_without_a_date_takes_the_day_after_the_last_valid_order():
    assert choose(None, None, LAST) == LAST
    with pytest.raises(ValueError, match="give one with --as-of"):
        choose(None, None, None)


def test_the_scoring_date_of_landed_orders_ignores_those_that_break_the_contract(tmp_path):
    orders = pd.DataFrame({"order_id": ["1", "2", "3", "4"], "customer_id": ["a", "a", "b", "c"],
                           "ordered_at": pd.to_datetime(["2025-12-30 10:00", "2045-01-01 00:00", "2025-12-31 08:00",
                                                         "1980-01-01 00:00"]),
                           "amount": [10.0, 5.0, limits().max_plausible_number * 2, 3.0]})
    orders.to_parquet(tmp_path / "orders.parquet")
    pd.DataFrame({"customer_id": ["a", "b", "c"]}).to_parquet(tmp_path / "customers.parquet")
    assert scoring_date(tmp_path) == date(2025, 12, 31)  # the future, implausible and pre-1990 orders left out
    assert scoring_date(tmp_path, requested=date(2025, 1, 1)) == date(2025, 1, 1)
    assert scoring_date(tmp_path, scheduled_for=date(2026, 2, 1)) == date(2025, 12, 31)
    with pytest.raises(ContractError, match="No raw data"):
        scoring_date(tmp_path / "nothing")
    assert scoring_date(tmp_path / "nothing", scheduled_for=date(2026, 2, 1)) == date(2026, 2, 1)


def test_the_contract_limits_are_the_dbt_projects_vars():
    assert limits().max_plausible_number == 1e9 and limits().earliest_timestamp == "1990-01-01"


def test_quarantine_fails_a_table_only_past_its_share_of_landed_rows():
    quarantined = {"orders": {"negative_amount": 4, "future_ordered_at": 2}, "events": {"orphan_customer_id": 1},
                   "reviews": {}}
    landed = {"orders": 100, "events": 1000, "reviews": 0}
    assert quarantine_verdict(quarantined, landed, 0.05) == {"orders": 0.06}
    assert quarantine_verdict(quarantined, landed, 0.06) == {}
    assert quarantine_verdict({"reviews": {"x": 1}}, {"reviews": 0}, 0.0) == {}  # nothing landed, nothing lost
