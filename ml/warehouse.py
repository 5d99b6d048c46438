"""The DuckDB warehouse: the build schema dbt and the pipeline write, the analytics schema
analysts read, and the one transaction that moves a finished run from the first to the second.

DuckDB allows one writing process per file, so every step opens its own short-lived connection
and closes it before the next step (dbt included) starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from ml.contract import RAW_TABLES

BUILD = "build"
ANALYTICS = "analytics"
RAW_TABLE_NAMES = tuple(table.name for table in RAW_TABLES)
QUARANTINE_TABLES = tuple(f"quarantine_{name}" for name in RAW_TABLE_NAMES)
SCORES_STAGED = f"{BUILD}.scores_staged"
RECOMMENDATIONS_STAGED = f"{BUILD}.recommendations_staged"
# The dbt model holding score history; publish checks that the run's date has rows in it.
SCORES = "customer_scores"


@contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    if read_only and not Path(path).exists():
        raise FileNotFoundError(f"No warehouse at {path} yet. Run the pipeline first: `clm run`.")
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def read_frame(path: Path, query: str, params: list | None = None) -> pd.DataFrame:
    with connect(path, read_only=True) as con:
        return con.execute(query, params or []).df()


def read_table(path: Path, table: str) -> pd.DataFrame:
    """A whole table of the build schema."""
    return read_frame(path, f"select * from {BUILD}.{table}")


def sample_parquet(path: Path, rows: int) -> pd.DataFrame:
    """A repeatable sample of at most `rows` rows of a Parquet file."""
    with duckdb.connect() as con:
        return con.execute(
            f"select * from read_parquet('{path}') using sample reservoir({int(rows)} rows) repeatable (42)"
        ).df()


def raw_reviews(raw_dir: Path, before: date) -> pd.DataFrame:
    """The landed reviews a sentiment classifier can learn from: with text, a rating in 1..5 and
    a date before `before`, oldest first. The contract's other rules do not matter to a text's
    sentiment; dbt applies them to what analysts see."""
    with duckdb.connect() as con:
        return con.execute(
            f"""
            select review_text, rating, reviewed_at from (
                select cast(review_text as varchar) as review_text, try_cast(rating as double) as rating,
                       try_cast(reviewed_at as timestamp) as reviewed_at
                from read_parquet('{raw_dir / "reviews.parquet"}'))
            where review_text is not null and rating between 1 and 5 and reviewed_at < ?
            order by reviewed_at, review_text
            """, [before]).df()


def quarantine_counts(path: Path) -> dict[str, dict[str, int]]:
    """{raw table: {rule: quarantined rows}} from the build schema's quarantine tables."""
    counts: dict[str, dict[str, int]] = {}
    with connect(path, read_only=True) as con:
        for name in RAW_TABLE_NAMES:
            rows = con.execute(f"select rule, count(*) from {BUILD}.quarantine_{name} group by rule").fetchall()
            counts[name] = {rule: n for rule, n in rows}
    return counts


def stage_scores(path: Path, scores: pd.DataFrame, as_of: date) -> int:
    """Write this run's scores into the build schema, replacing any earlier attempt.

    The dbt model customer_scores replaces the rows of the staged date; scores of another
    date would silently leave the run's date unscored, so they are refused here.
    """
    dates = set(pd.to_datetime(scores["as_of"]).dt.date.unique())
    if dates != {as_of}:
        raise ValueError(f"The scores to stage are dated {sorted(map(str, dates))}, not the run's date {as_of}; "
                         "customer_features was built for another date. Re-run the whole DAG for one date.")
    return write_table(path, SCORES_STAGED, scores)


def write_table(path: Path, table: str, frame: pd.DataFrame) -> int:
    """Replace `table` with the frame's rows; return how many."""
    with connect(path) as con:
        con.register("frame", frame)
        con.execute(f"create or replace table {table} as select * from frame")
        return con.execute(f"select count(*) from {table}").fetchone()[0]


def publish(path: Path, as_of: date, tables: list[str]) -> dict[str, int]:
    """Copy the run's published tables from the build schema into analytics in one transaction.

    Readers see the previous run's tables or this run's, never a mix. Each table is replaced
    whole, so a column added in a new version of clm arrives with it; score history lives in
    the incremental dbt model customer_scores, so replacing it keeps every earlier date.
    A run whose date has no scores fails here rather than publish an unscored day.
    """
    with connect(path) as con:
        scored = con.execute(f"select count(*) from {BUILD}.{SCORES} where as_of = ?", [as_of]).fetchone()[0]
        if scored == 0:
            raise ValueError(f"{BUILD}.{SCORES} has no rows for the run's date {as_of}; nothing was published. "
                             "The score step and the dbt build ran for different dates: re-run the whole DAG.")
        con.execute("begin transaction")
        try:
            con.execute(f"create schema if not exists {ANALYTICS}")
            for table in tables:
                con.execute(f"create or replace table {ANALYTICS}.{table} as select * from {BUILD}.{table}")
            counts = {t: con.execute(f"select count(*) from {ANALYTICS}.{t}").fetchone()[0] for t in tables}
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    return {**counts, f"{SCORES} as of {as_of}": scored}


def query(path: Path, sql: str) -> pd.DataFrame:
    """Run an analyst's query read-only, with the analytics schema first on the search path."""
    with connect(path, read_only=True) as con:
        con.execute(f"set search_path = '{ANALYTICS},{BUILD}'")
        return con.execute(sql).df()


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
