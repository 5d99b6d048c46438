"""The dbt warehouse on its own: point-in-time correctness, quarantine, incremental events, CDNOW."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml import settings as settings_module
from ml.data import dbt_runner
from ml.data.ingest import day_after_last_order, ingest_cdnow, ingest_folder
from ml.run import steps
from tests.conftest import PII_KEY

AS_OF = date(2025, 10, 1)
DAILY_KEY = "customer_id, event_date, session_id"

pytestmark = pytest.mark.slow


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CLM_HOME", str(tmp_path / "home"))
    return settings_module.load()


def build(settings, source, as_of=AS_OF):
    ingest_folder(source, settings.raw_dir, PII_KEY)
    dbt_runner.build(dbt_runner.FEATURE_SELECTOR, as_of, settings)


def table(settings, name: str, order: str = "customer_id, as_of") -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(f"select * from build.{name} order by {order}").df()


def append_after(source, target, cutoff: pd.Timestamp) -> None:
    """Copy the shop, then add and change rows dated on or after the cutoff only."""
    shutil.copytree(source, target)
    orders = pd.read_parquet(target / "orders.parquet")
    later = orders[orders["ordered_at"] >= cutoff].index
    orders.loc[later, "amount"] = orders.loc[later, "amount"] * 3
    extra = orders.head(50).assign(order_id=orders["order_id"].max() + 1 + pd.RangeIndex(50),
                                   ordered_at=cutoff + pd.Timedelta(hours=5))
    pd.concat([orders, extra]).to_parquet(target / "orders.parquet", index=False)
    events = pd.read_parquet(target / "events.parquet")
    new_events = events.head(500).assign(event_id=events["event_id"].max() + 1 + pd.RangeIndex(500),
                                         occurred_at=cutoff + pd.Timedelta(days=2))
    pd.concat([events, new_events]).to_parquet(target / "events.parquet", index=False)
    reviews = pd.read_parquet(target / "reviews.parquet")
    reviews.loc[reviews["reviewed_at"] >= cutoff, "rating"] = 1
    reviews.to_parquet(target / "reviews.parquet", index=False)


def test_features_as_of_t_ignore_everything_from_t_on(home, tiny_shop, tmp_path):
    build(home, tiny_shop)
    features, examples = table(home, "customer_features"), table(home, "training_examples")
    # Monthly cutoffs over the shop's history (from 2024-01), at most max_training_cutoffs (12).
    assert len(features) > 0 and examples["as_of"].nunique() == 12

    changed = tmp_path / "changed"
    append_after(tiny_shop, changed, pd.Timestamp(AS_OF))
    build(home, changed)

    pd.testing.assert_frame_equal(table(home, "customer_features"), features)
    pd.testing.assert_frame_equal(table(home, "training_examples"), examples)


def test_features_match_a_plain_recount_at_every_as_of_date(home, tiny_shop):
    """The warehouse sums events and orders once per period between as-of dates (for speed);
    a direct recount from the landed rows (none quarantined), date by date, must give the same numbers."""
    build(home, tiny_shop)
    features = pd.concat([table(home, "customer_features"), table(home, "training_examples")])
    assert not any(steps.check_quarantine(AS_OF, home).values())
    events, orders = (pd.read_parquet(home.raw_dir / f"{name}.parquet") for name in ("events", "orders"))
    orders["customer_id"] = orders["customer_id"].astype(str)
    events["day"] = events["occurred_at"].dt.normalize()
    events["customer_id"] = events["customer_id"].astype(str)
    events["session_id"] = events["session_id"].astype("string").fillna("one per day")
    kept = orders[orders["status"] != "cancelled"].sort_values(["ordered_at", "order_id"])
    kept = kept.assign(gap=kept.groupby("customer_id")["ordered_at"].diff().dt.total_seconds() / 86400)
    assert features["as_of"].nunique() == 13 and len(events) > 1000 and kept["gap"].notna().sum() > 100

    for as_of, rows in features.groupby("as_of"):
        as_of = pd.Timestamp(as_of)
        before = events[events["day"] < as_of]
        sessions = before.drop_duplicates(["customer_id", "day", "session_id"])
        recent = sessions[sessions["day"] >= as_of - pd.Timedelta(days=30)]
        previous = sessions[(sessions["day"] >= as_of - pd.Timedelta(days=60)) & (sessions["day"] < as_of - pd.Timedelta(days=30))]
        bought = kept[kept["ordered_at"] < as_of]
        recent_orders = bought[bought["ordered_at"] >= as_of - pd.Timedelta(days=30)]
        previous_orders = bought[(bought["ordered_at"] >= as_of - pd.Timedelta(days=60))
                                 & (bought["ordered_at"] < as_of - pd.Timedelta(days=30))]
        placed = orders[orders["ordered_at"] < as_of].groupby("customer_id")
        counts = pd.DataFrame({
            "sessions": sessions.groupby("customer_id").size(),
            "product_views": before[before["event_type"] == "product_view"].groupby("customer_id").size(),
            "sessions_last_30d": recent.groupby("customer_id").size(),
            "sessions_prev_30d": previous.groupby("customer_id").size(),
            "frequency": bought.groupby("customer_id").size(),
            "monetary": bought.groupby("customer_id")["amount"].sum(),
            "cancel_rate": placed["status"].apply(lambda s: (s == "cancelled").mean()),
            "orders_last_30d": recent_orders.groupby("customer_id").size(),
            "spend_prev_30d": previous_orders.groupby("customer_id")["amount"].sum(),
        }).reindex(rows["customer_id"].astype(str)).fillna(0)
        gaps = bought.groupby("customer_id")["gap"]  # NULL where there is no gap yet
        spreads = pd.DataFrame({"last_order_gap_days": gaps.last(), "mean_interpurchase_days": gaps.mean(),
                                "std_interpurchase_days": gaps.std()}).reindex(rows["customer_id"].astype(str))
        actual = rows.set_index(rows["customer_id"].astype(str))
        for expected in (counts, spreads):
            pd.testing.assert_frame_equal(actual[list(expected.columns)].astype(float), expected.astype(float),
                                          check_names=False, rtol=1e-6, atol=1e-9)
        assert counts["sessions"].sum() > 0 and spreads["std_interpurchase_days"].notna().any()


def test_ticket_features_match_a_recount_with_the_help_desks_labels_else_the_keyword_rules(home, tiny_shop):
    """Without an intent classifier, score_tickets names unlabelled tickets' intents by the
    keyword rules; at every as-of date the ticket features count only earlier tickets."""
    from ml.models import intent_keywords

    ingest_folder(tiny_shop, home.raw_dir, PII_KEY)
    scored = steps.score_tickets(AS_OF, home)
    dbt_runner.build(dbt_runner.FEATURE_SELECTOR, AS_OF, home)
    assert scored["intent"]["model_version"] is None and scored["intent"]["scored"] > 50
    assert scored["sentiment"]["scored"] == 0  # no review classifier: the lexicon reads the tickets

    tickets = pd.read_parquet(home.raw_dir / "tickets.parquet")
    tickets["customer_id"] = tickets["customer_id"].astype(str)
    tickets["intent"] = tickets["intent"].where(tickets["intent"].notna(), intent_keywords.intents(tickets["text"].tolist()))
    assert tickets["intent"].isna().sum() == 0 and (tickets["created_at"] < pd.Timestamp(AS_OF)).sum() > 100
    features = pd.concat([table(home, "customer_features"), table(home, "training_examples")])
    for as_of, rows in features.groupby("as_of"):
        as_of = pd.Timestamp(as_of)
        before = tickets[tickets["created_at"] < as_of].sort_values(["created_at", "ticket_id"])
        recent = before[before["created_at"] >= as_of - pd.Timedelta(days=30)]
        last = before.groupby("customer_id").last()
        expected = pd.DataFrame({
            "tickets_last_30d": recent.groupby("customer_id").size(),
            "complaints_last_30d": recent[recent["intent"] == "complaint"].groupby("customer_id").size(),
            "cancel_requests_last_30d": recent[recent["intent"] == "cancel_or_unsubscribe"].groupby("customer_id").size(),
        }).reindex(rows["customer_id"]).fillna(0)
        actual = rows.set_index("customer_id")
        pd.testing.assert_frame_equal(actual[list(expected.columns)].astype(float), expected.astype(float),
                                      check_names=False)
        assert (actual["last_ticket_intent"].fillna("none") == last["intent"].reindex(actual.index).fillna("none")).all()
        days = (as_of - last["created_at"].dt.normalize()).dt.days.reindex(actual.index)
        assert (actual["days_since_last_ticket"].astype(float).fillna(-1) == days.astype(float).fillna(-1)).all()
    assert features["complaints_last_30d"].sum() > 0 and features["last_ticket_sentiment"].between(-1, 1).any()


def test_labels_come_from_the_horizon_after_each_cutoff(home, tiny_shop):
    build(home, tiny_shop)
    examples = table(home, "training_examples")
    orders = pd.read_parquet(tiny_shop / "orders.parquet")
    kept = orders[orders["status"] != "cancelled"].assign(customer_id=lambda o: o["customer_id"].astype(str))
    row = examples[examples["future_orders"] > 0].iloc[0]
    start = pd.Timestamp(row["as_of"])
    window = kept[(kept["customer_id"] == row["customer_id"]) & (kept["ordered_at"] >= start)
                  & (kept["ordered_at"] < start + pd.Timedelta(days=90))]
    assert row["future_orders"] == len(window)
    assert row["future_spend"] == pytest.approx(window["amount"].sum())
    assert (examples["churned"] == (examples["future_orders"] == 0)).all()
    # The firsts of the months up to as_of - 90 days (2025-07-03).
    assert sorted(examples["as_of"].astype(str).unique())[-3:] == ["2025-05-01", "2025-06-01", "2025-07-01"]


def corrupt(source, target):
    """A shop export with one row breaking each orders rule, and some broken lines and reviews."""
    shutil.copytree(source, target)
    orders = pd.read_parquet(target / "orders.parquet")
    orders["ordered_at"] = orders["ordered_at"].astype(str)
    orders["amount"] = orders["amount"].astype(str)
    bad = orders.head(7).copy()
    bad["order_id"] = [900001, 900002, 900003, 900004, 900005, 900006, orders.loc[0, "order_id"]]
    bad.loc[bad.index[0], "amount"] = "-12.5"
    bad.loc[bad.index[1], "ordered_at"] = "2999-01-01 00:00:00"
    bad.loc[bad.index[2], "ordered_at"] = "1985-05-05 00:00:00"
    bad.loc[bad.index[3], "ordered_at"] = "not a date"
    bad.loc[bad.index[4], "amount"] = "twelve"
    bad.loc[bad.index[5], "customer_id"] = 424242
    pd.concat([orders, bad]).to_csv(target / "orders.csv", index=False)
    (target / "orders.parquet").unlink()
    items = pd.read_parquet(target / "order_items.parquet")
    items.loc[0, "quantity"] = -3
    items.loc[1, "product_id"] = 777777
    items.to_parquet(target / "order_items.parquet", index=False)
    reviews = pd.read_parquet(target / "reviews.parquet")
    reviews.loc[0, "rating"] = 9
    reviews.to_parquet(target / "reviews.parquet", index=False)


def test_bad_rows_are_quarantined_with_their_rule_and_never_reach_features(home, tiny_shop, tmp_path):
    build(home, tiny_shop)
    clean = table(home, "customer_features")
    corrupt(tiny_shop, tmp_path / "bad")
    build(home, tmp_path / "bad")

    rules = table(home, "quarantine_orders", "order_id").set_index("order_id")["rule"].to_dict()
    assert rules == {
        "900001": "negative_amount",
        "900002": "future_ordered_at",
        "900003": "ordered_at_before_1990",
        "900004": "unparseable_ordered_at",
        "900005": "unparseable_amount",
        "900006": "orphan_customer_id",
        str(pd.read_parquet(tiny_shop / "orders.parquet").loc[0, "order_id"]): "duplicate_order_id",
    }
    item_rules = set(table(home, "quarantine_order_items", "order_item_id")["rule"])
    assert item_rules == {"negative_quantity", "orphan_product_id"}
    assert set(table(home, "quarantine_reviews", "customer_id")["rule"]) == {"rating_outside_1_to_5"}
    features = table(home, "customer_features")
    assert "424242" not in set(features["customer_id"])
    merged = features.merge(clean, on="customer_id", suffixes=("", "_clean"))
    assert (merged["frequency"] == merged["frequency_clean"]).all()
    assert counts_by_rule(steps.check_quarantine(AS_OF, home))["orders"] == 7


def counts_by_rule(counts: dict) -> dict[str, int]:
    return {table: sum(rules.values()) for table, rules in counts.items()}


def test_too_much_bad_input_fails_with_the_rules_named(home, tiny_shop, tmp_path, monkeypatch):
    corrupt(tiny_shop, tmp_path / "bad")
    monkeypatch.setenv("CLM_MAX_QUARANTINE_SHARE", "0.001")
    strict = settings_module.load()
    build(strict, tmp_path / "bad")
    with pytest.raises(ValueError, match=r"orders: .* quarantined \(.*negative_amount 1 \(e.g. order_id=900001\).*build.quarantine_orders"):
        steps.check_quarantine(AS_OF, strict)


def test_events_build_incrementally_and_a_rerun_day_stays_correct(home, tiny_shop, tmp_path):
    build(home, tiny_shop, as_of=date(2026, 1, 1))
    first_day = table(home, "int_events_aggregated_daily", "event_date")["event_date"].min()
    # A sentinel in an old day: an incremental run must not recompute it, a full one would.
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("update build.int_events_aggregated_daily set product_views = -1 where event_date = ?", [first_day])

    # The shop's export grows by a day in place (no new snapshot): only recent days are re-read.
    events = pd.read_parquet(home.raw_dir / "events.parquet", dtype_backend="numpy_nullable")
    next_day = events["occurred_at"].max().normalize() + pd.Timedelta(days=1)
    new_day = events.tail(300).assign(event_id=events["event_id"].max() + 1 + pd.RangeIndex(300),
                                      occurred_at=next_day + pd.Timedelta(hours=3))
    pd.concat([events, new_day]).to_parquet(home.raw_dir / "events.parquet", index=False)
    dbt_runner.build(dbt_runner.FEATURE_SELECTOR, date(2026, 1, 3), home)
    incremental = table(home, "int_events_aggregated_daily", DAILY_KEY)
    assert pd.Timestamp(incremental["event_date"].max()) == next_day
    assert (incremental.loc[incremental["event_date"] == first_day, "product_views"] == -1).all()

    # The same day re-sent with fewer events: the day is replaced whole, not added to.
    resent = pd.concat([events, new_day.head(100)])
    resent.to_parquet(home.raw_dir / "events.parquet", index=False)
    dbt_runner.build(dbt_runner.FEATURE_SELECTOR, date(2026, 1, 3), home)
    rerun = table(home, "int_events_aggregated_daily", DAILY_KEY)

    from_scratch = tmp_path / "from_scratch"
    shutil.copytree(tiny_shop, from_scratch)
    resent.to_parquet(from_scratch / "events.parquet", index=False)
    build(home, from_scratch, as_of=date(2026, 1, 3))
    full = table(home, "int_events_aggregated_daily", DAILY_KEY)

    def recent(frame):
        return frame[frame["event_date"] != first_day].reset_index(drop=True)

    pd.testing.assert_frame_equal(recent(rerun), recent(full))
    assert full.loc[full["event_date"] == next_day, "purchases"].sum() == (new_day.head(100)["event_type"] == "purchase").sum()


def test_an_upgraded_project_rebuilds_the_incremental_events_from_scratch(home, tiny_shop):
    """A warehouse left by an older clm (other columns in the daily events, another project
    fingerprint) must not be appended to: the first build of the new project rebuilds it."""
    build(home, tiny_shop)
    expected = table(home, "int_events_aggregated_daily", DAILY_KEY)
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("create or replace table build.int_events_aggregated_daily as "
                    "select customer_id, event_date, count(*) as sessions from build.int_events_aggregated_daily group by all")
    marker = dbt_runner.built_marker(home)
    snapshot, _ = marker.read_text().split()
    marker.write_text(f"{snapshot} fingerprint-of-an-older-project")

    dbt_runner.build(dbt_runner.FEATURE_SELECTOR, AS_OF, home)

    pd.testing.assert_frame_equal(table(home, "int_events_aggregated_daily", DAILY_KEY), expected)
    assert marker.read_text() == f"{snapshot} {dbt_runner.project_fingerprint(home.dbt_project_dir)}"


def test_cdnow_orders_only_builds_every_feature_orders_allow(home):
    ingest_cdnow(home.raw_dir, home.home / "sources", PII_KEY)
    dbt_runner.build(dbt_runner.FEATURE_SELECTOR, date(1997, 10, 1), home)
    features = table(home, "customer_features")
    assert len(features) == 23570 and features["customer_id"].is_unique
    assert features["frequency"].min() >= 1 and features["monetary"].ge(0).all() and features["monetary"].mean() > 50
    assert features["recency_days"].between(0, 273).all()
    assert (features["sessions"] == 0).all() and (features["review_count"] == 0).all()
    assert features["mean_rating"].isna().all() and features["top_category"].isna().all()
    examples = table(home, "training_examples")
    assert 0.3 < examples["churned"].mean() < 0.9
    # The first of each month after the first order (1997-01-01) up to as_of - H (1997-07-03).
    cutoffs = sorted(str(d.date()) for d in examples["as_of"].unique())
    assert cutoffs == ["1997-02-01", "1997-03-01", "1997-04-01", "1997-05-01", "1997-06-01", "1997-07-01"]


def test_dbt_builds_by_hand_with_the_date_clm_would_choose(tiny_shop, tmp_path):
    """An analytics engineer runs `dbt build` from dbt_project/ with no CLM_* variables: the
    warehouse and raw folder default to ../.clm/; without a scoring date dbt refuses, saying how
    to give one, since clm alone decides it. `clm run`'s default, the day after the last order
    that keeps the contract (orders dated 20 years ahead or from unknown customers do not move
    it), is the day after the last order dbt's staging keeps."""
    project = tmp_path / "dbt_project"
    shutil.copytree(settings_module.PROJECT_DIR / "dbt_project", project,
                    ignore=shutil.ignore_patterns("target", "logs", ".user.yml"))
    shop = tmp_path / "shop"
    shutil.copytree(tiny_shop, shop)
    orders = pd.read_parquet(tiny_shop / "orders.parquet")
    bad = orders.head(4).assign(order_id=orders["order_id"].max() + 1 + np.arange(4))
    bad.loc[bad.index[:2], "ordered_at"] = pd.Timestamp("2045-10-09")
    bad.loc[bad.index[2:], ["customer_id", "ordered_at"]] = [orders["customer_id"].max() + 1000, orders["ordered_at"].max()
                                                            + pd.Timedelta(days=3)]
    pd.concat([orders, bad]).to_parquet(shop / "orders.parquet", index=False)
    ingest_folder(shop, tmp_path / ".clm" / "raw", PII_KEY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLM_")}
    build = [str(Path(sys.executable).with_name("dbt")), "build", "--profiles-dir", ".", "--select", "+customer_features"]
    refused = subprocess.run(build, cwd=project, env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "No scoring date: clm decides it" in refused.stdout

    as_of = day_after_last_order(tmp_path / ".clm" / "raw")
    last_order = pd.read_parquet(tiny_shop / "orders.parquet")["ordered_at"].max()
    assert as_of == last_order.date() + pd.Timedelta(days=1).to_pytimedelta()  # the 2045 and orphan orders left out
    completed = subprocess.run([*build, "--vars", f"{{as_of: '{as_of}'}}"], cwd=project, env=env, capture_output=True,
                               text=True)
    assert completed.returncode == 0, completed.stdout[-3000:]
    with duckdb.connect(str(tmp_path / ".clm" / "warehouse.duckdb"), read_only=True) as con:
        dates, nearest = con.execute("select list(distinct as_of), min(recency_days) from build.customer_features").fetchone()
    # dbt's staging keeps the same last valid order as Python's rules: a customer ordered the day before.
    assert dates == [as_of] and nearest == 1


def test_a_fingerprint_changes_with_any_value_but_not_with_the_last_bits_of_a_sum(tmp_path):
    from ml.data.warehouse import DuckDBWarehouse

    path = tmp_path / "w.duckdb"
    fingerprint = DuckDBWarehouse(path, tmp_path / "analytics.duckdb").fingerprint
    with duckdb.connect(str(path)) as con:
        con.execute("create schema build")
        con.execute("create table build.t as select range::varchar as id, range * 0.1::double as x, "
                    "date '2026-01-01' + cast(range as integer) as d from range(100)")
    first = fingerprint("t")
    for change, same in (("update build.t set x = x * (1 + 1e-15) where id = '5'", True),  # parallel-sum noise
                         ("update build.t set x = x + 0.001 where id = '5'", False),
                         ("update build.t set d = d + 1 where id = '7'", False),
                         ("delete from build.t where id = '9'", False)):
        with duckdb.connect(str(path)) as con:
            con.execute(change)
        assert (fingerprint("t") == first) is same, change
        first = fingerprint("t")
