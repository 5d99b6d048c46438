"""Every query the dashboard runs on the analysts' database, one function per thing it shows.

Each call opens the file read-only and closes it: a run's publish renames a new file over the
old one (ml/data/warehouse.py), and the next call reads the new run while a call under way ends
on the file it opened, so a page never mixes two runs' tables within one query and never sees
a half-written file. Everything aggregates, filters or pages in SQL: at a million customers a
page moves a few hundred rows into Python, never a whole table.

A file that is missing, is not DuckDB, holds no clm tables or no scores yet raises Unavailable
with one sentence saying what to do; the pages show that sentence instead of a traceback.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from ml import analysts_file
from ml.analysts_file import Unavailable, first_line

# What a clm analysts' database holds at least; a file without them is someone else's.
REQUIRED = ("customer_scores", "customer_segments", "churn_alerts", "next_best_action")
NO_RUN = "No run has published yet: run `clm run` (or `make demo`), then reload this page."
# One query at a time in this process: DuckDB hands a new connection the database instance a
# connection still open in the process holds, so a session's query during another's would read
# the file that other opened, the run before a swap, and the cache would keep it as the new run's.
OPEN = threading.Lock()


@dataclass(frozen=True)
class Alerts:
    """A filter of the churn alert list: empty tuples keep every value."""

    segments: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()


def signature(path: Path) -> tuple[int, int]:
    """Changes whenever a run swaps a new file in: the pages' cache keys on it."""
    return analysts_file.signature(path, NO_RUN)


def read(path: Path, sql: str, params: list | None = None) -> pd.DataFrame:
    """Run one query on the file as it is now, read-only."""
    signature(path)
    with OPEN:
        return _read(path, sql, params)


def _read(path: Path, sql: str, params: list | None) -> pd.DataFrame:
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        raise Unavailable(f"{path} could not be opened as the analysts' DuckDB database ({first_line(error)}). "
                          "Point CLM_ANALYTICS_DB at the file `clm info` names, or run `clm run` to write it.") from None
    try:
        tables = {name for (name,) in con.execute("select table_name from duckdb_tables()").fetchall()}
        missing = [t for t in REQUIRED if t not in tables]
        if missing:
            raise Unavailable(f"{path} is not a clm analysts' database (it has no table {', '.join(missing)}). "
                              f"Point CLM_ANALYTICS_DB at the file `clm info` names. {NO_RUN}")
        try:
            return con.execute(sql, params or []).df()
        except (duckdb.BinderException, duckdb.CatalogException) as error:
            raise Unavailable(f"{path} lacks what this page reads ({first_line(error)}): another version of clm "
                              "published it. Run `clm run` to publish it again.") from None
        except duckdb.Error as error:
            raise Unavailable(f"DuckDB could not answer this page from {path} ({first_line(error)}). Reload the page; "
                              "if it stays, run `clm restore` to go back to the run before.") from None
    finally:
        con.close()


def latest_date(path: Path) -> date:
    """The newest scoring date; Unavailable when nothing was scored yet."""
    latest = read(path, "select max(as_of)::date as as_of from customer_scores")["as_of"].iloc[0]
    if pd.isna(latest):
        raise Unavailable(NO_RUN)
    return pd.Timestamp(latest).date()


# Overview

def headline(path: Path, as_of: date) -> dict:
    """Customers scored, the share in the highest risk band, alerts and their value at stake."""
    row = read(path, """
        with actions as (select * from next_best_action where as_of = ?),
        top_band as (select risk_band from actions group by 1 order by min(churn_probability) desc limit 1)
        select
            (select count(*) from customer_scores where as_of::date = ?) as customers,
            (select any_value(risk_band) from top_band) as risk_band,
            (select count(*) filter (where risk_band = (select risk_band from top_band)) / greatest(count(*), 1)
             from actions) as share_at_risk,
            (select count(*) from churn_alerts where as_of::date = ?) as alerts,
            (select coalesce(sum(value_at_stake), 0) from churn_alerts where as_of::date = ?) as value_at_stake,
            (select avg(churn_probability) from customer_scores where as_of::date = ?) as mean_churn_probability
    """, [as_of] * 5).iloc[0]
    return row.to_dict()


def churn_by_date(path: Path) -> pd.DataFrame:
    """The mean churn probability of every scoring date, with the model version that scored it:
    the drift a model owner watches, and the trend a marketer sees."""
    return read(path, """
        select as_of::date as as_of, count(*) as customers, avg(churn_probability) as mean_churn_probability,
               string_agg(distinct model_family || ' v' || model_version, ', ') as model
        from customer_scores group by 1 order by 1""")


def segment_sizes(path: Path) -> pd.DataFrame:
    """Customers per RFM segment in customer_segments, with the date it holds (its as_of)."""
    return read(path, """
        select max(as_of) as as_of, coalesce(rfm_segment, 'no orders yet') as rfm_segment, count(*) as customers
        from customer_segments group by 2 order by customers desc, rfm_segment""")


def lifecycle_stages(path: Path) -> pd.DataFrame:
    return read(path, """
        select max(as_of) as as_of, lifecycle_stage, count(*) as customers
        from customer_segments group by 2 order by customers desc, lifecycle_stage""")


def segment_moves(path: Path) -> pd.DataFrame:
    """Customers per (segment on the previous scoring date, segment now), from the segment each
    customer had in next_best_action on the two newest dates; empty before a second date."""
    return read(path, """
        with dates as (select distinct as_of from next_best_action order by as_of desc limit 2),
        now as (select customer_id, rfm_segment from next_best_action where as_of = (select max(as_of) from dates)),
        before as (select customer_id, rfm_segment from next_best_action
                   where as_of = (select min(as_of) from dates) and (select count(*) from dates) = 2)
        select (select min(as_of) from dates) as previous_as_of, (select max(as_of) from dates) as as_of,
               before.rfm_segment as previous_segment,
               now.rfm_segment as segment, count(*) as customers
        from now inner join before using (customer_id)
        group by 3, 4 order by 3, 4""")


# Churn alerts

# A customer who never ordered has no RFM segment; the dashboard names it as the actions do.
ALERT_SEGMENT = "coalesce(alerts.rfm_segment, 'no orders yet')"
ALERT_COLUMNS = f"""alerts.alert_rank, alerts.customer_id, alerts.churn_probability, alerts.value_at_stake,
    alerts.value_tier, {ALERT_SEGMENT} as rfm_segment, alerts.lifecycle_stage, actions.action,
    alerts.churn_reason_1, alerts.churn_reason_2, alerts.churn_reason_3, alerts.alert_trigger"""


def _alerts_where(as_of: date, chosen: Alerts) -> tuple[str, list]:
    clauses, params = ["alerts.as_of::date = ?"], [as_of]
    for column, values in ((ALERT_SEGMENT, chosen.segments), ("alerts.value_tier", chosen.tiers),
                           ("actions.action", chosen.actions)):
        if values:
            clauses.append(f"{column} in ({', '.join('?' for _ in values)})")
            params.extend(values)
    return " and ".join(clauses), params


ALERTS_FROM = """churn_alerts as alerts left join next_best_action as actions
    on actions.customer_id = alerts.customer_id and actions.as_of = alerts.as_of::date"""


def alert_choices(path: Path, as_of: date) -> dict[str, list[str]]:
    """The values each filter of the alert list offers: those on the date's list."""
    frame = read(path, f"""
        select coalesce(list(distinct {ALERT_SEGMENT} order by {ALERT_SEGMENT}), []) as segments,
               coalesce(list(distinct alerts.value_tier order by alerts.value_tier), []) as tiers,
               coalesce(list(distinct actions.action order by actions.action), []) as actions
        from {ALERTS_FROM} where alerts.as_of::date = ?""", [as_of])
    return {k: [value for value in v if value is not None] for k, v in frame.iloc[0].items()}


def alert_count(path: Path, as_of: date, chosen: Alerts) -> int:
    where, params = _alerts_where(as_of, chosen)
    return int(read(path, f"select count(*) as n from {ALERTS_FROM} where {where}", params)["n"].iloc[0])


def alerts(path: Path, as_of: date, chosen: Alerts, limit: int | None = 50, offset: int = 0) -> pd.DataFrame:
    """The call list in rank order, one page of it (every row with limit None: the CSV)."""
    where, params = _alerts_where(as_of, chosen)
    page = "" if limit is None else f" limit {int(limit)} offset {int(offset)}"
    return read(path, f"select {ALERT_COLUMNS} from {ALERTS_FROM} where {where} order by alerts.alert_rank{page}", params)


# Actions and campaigns

def action_summary(path: Path, as_of: date) -> pd.DataFrame:
    """Per action on the date: customers, how many are held out, what it costs, what is at stake."""
    return read(path, """
        select action, count(*) as customers, count(*) filter (where in_holdout) as held_out,
               avg(in_holdout::int) as holdout_share, sum(cost) as cost, sum(value_at_stake) as value_at_stake
        from next_best_action where as_of = ? group by 1 order by customers desc, action""", [as_of])


def campaign_effects(path: Path) -> pd.DataFrame:
    """Each campaign's measured effect over the dates, with its 95% interval (campaign_effect)."""
    return read(path, """
        select campaign, as_of, horizon_days, treated_customers, holdout_customers,
               orders_effect, orders_effect_low, orders_effect_high,
               spend_effect, spend_effect_low, spend_effect_high
        from campaign_effect order by campaign, as_of""")


# One customer

def first_customer(path: Path, as_of: date) -> str | None:
    """The customer the page opens on: the top of the date's alert list, or without alerts the
    customer most likely to churn."""
    frame = read(path, """
        select customer_id from (
            select customer_id, 0 as list, alert_rank as rank from churn_alerts where as_of::date = ?
            union all
            select customer_id, 1, -churn_probability from customer_scores where as_of::date = ?)
        order by list, rank, customer_id limit 1""", [as_of, as_of])
    return None if frame.empty else str(frame["customer_id"].iloc[0])


def customer_profile(path: Path, customer_id: str) -> dict | None:
    """The customer's row in customer_segments, their newest reasons and next best action."""
    frame = read(path, """
        with scores as (select * from customer_scores where customer_id = ? order by as_of desc limit 1),
        action as (select * from next_best_action where customer_id = ? order by as_of desc limit 1)
        select segments.*, scores.churn_reason_1, scores.churn_reason_2, scores.churn_reason_3,
               action.action, action.in_holdout, action.risk_band,
               (select alert_rank from churn_alerts where customer_id = ? and as_of::date = segments.as_of) as alert_rank
        from customer_segments as segments
        left join scores using (customer_id) left join action using (customer_id)
        where segments.customer_id = ?""", [customer_id] * 4)
    return None if frame.empty else frame.iloc[0].to_dict()


def customer_history(path: Path, customer_id: str) -> pd.DataFrame:
    return read(path, """
        select as_of::date as as_of, churn_probability, expected_spend, expected_orders, value_tier
        from customer_scores where customer_id = ? order by as_of""", [customer_id])


def customer_recommendations(path: Path, customer_id: str) -> pd.DataFrame:
    return read(path, """
        select rank, product_name, category, score from recommendations
        where customer_id = ? and as_of = (select max(as_of) from recommendations) order by rank""", [customer_id])


def customer_reviews(path: Path, customer_id: str) -> pd.DataFrame:
    return read(path, """
        select reviewed_at::date as reviewed_at, rating, sentiment_label, sentiment, review_text
        from review_sentiment where customer_id = ? order by reviewed_at desc""", [customer_id])


def story(profile: dict) -> str:
    """The customer in words: what a marketer would say on the phone before calling."""
    reasons = [profile.get(f"churn_reason_{i}") for i in (1, 2, 3)]
    reasons = [r for r in reasons if isinstance(r, str) and r]
    def known(key: str) -> bool:
        return profile.get(key) is not None and not pd.isna(profile[key])

    orders = int(profile["frequency"]) if known("frequency") else 0
    segment = profile["rfm_segment"] if known("rfm_segment") else "no orders yet"
    last = f", the last {int(profile['recency_days'])} days ago" if known("recency_days") else ""
    spent = f" worth {profile['monetary']:,.2f}" if known("monetary") else ""
    parts = [f"Customer {profile['customer_id']} is in the {segment} segment ({profile['lifecycle_stage']}), "
             + (f"with {orders} order{'s' if orders != 1 else ''}{spent} so far{last}." if orders else "with no order yet.")]
    if known("churn_probability"):
        spend = f" and expects {profile['expected_spend']:,.2f} of spend" if known("expected_spend") else ""
        parts.append(f"On {pd.Timestamp(profile['as_of']).date()} the model gives a {profile['churn_probability']:.0%} "
                     f"chance of churning{spend} ({profile['value_tier']} value tier).")
    if reasons:
        parts.append("The risk rises most with: " + "; ".join(reasons) + ".")
    if known("alert_rank"):
        parts.append(f"They are number {int(profile['alert_rank'])} on today's call list.")
    if known("action"):
        held = " (held out to measure the campaign: no contact)" if profile.get("in_holdout") else ""
        parts.append(f"Next best action: {profile['action']}{held}.")
    return " ".join(parts)


# The model

SCORING_RUN = """
    with live as (select any_value(model_name) as model_name, any_value(model_version) as model_version
                  from customer_scores where as_of::date = ?),
    its_run as (select max(trained_at) as trained_at from model_evaluation
                where model_name = (select model_name from live) and model_version = (select model_version from live))"""


def model_candidates(path: Path, as_of: date) -> pd.DataFrame:
    """The holdout metrics of every candidate of the training run that registered the model
    scoring on `as_of` (empty when that run is not in model_evaluation)."""
    return read(path, SCORING_RUN + """
        select model_family, model_version, model_version = (select model_version from live) as scoring, promoted,
               roc_auc, pr_auc, brier, ece, lift_top10, spend_spearman, holdout_as_of, holdout_rows
        from model_evaluation where trained_at = (select trained_at from its_run)
        order by scoring desc, roc_auc desc nulls last, model_family""", [as_of])


def model_curves(path: Path, as_of: date) -> pd.DataFrame:
    """The calibration and cumulative gain points of the same candidates, in drawing order."""
    return read(path, SCORING_RUN + """
        select model_family || ' v' || coalesce(model_version::varchar, '-') as model, curve, point, x, y
        from model_curves where trained_at = (select trained_at from its_run)
        order by model, curve, point""", [as_of])
