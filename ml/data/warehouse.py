"""The DuckDB databases: the working warehouse dbt and the pipeline write (schema `build`),
and the analysts' database the publish step replaces whole at the end of a good run.

DuckDB allows one writing process per file, so every step opens its own short-lived connection
to the working warehouse and closes it before the next step (dbt included) starts. Nobody
else opens that file: analysts read their own, which the pipeline never opens for writing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from ml.data.contract import RAW_TABLES

BUILD = "build"
# The analysts' database file is attached under this name while a run writes it.
PUBLISHING = "publishing"
ANALYSTS_STORAGE_VERSION = "v1.4.0"
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


def fingerprint(path: Path, table: str) -> str:
    """Rows and an order-free hash of every value of a build table: equal when nothing in it
    changed, cheap enough to take on every run. Floating-point values are hashed to 6 decimal
    places: DuckDB adds them up in parallel, so two builds of the same data can differ in the
    last bits."""
    with connect(path, read_only=True) as con:
        columns = con.execute(f"describe {BUILD}.{table}").fetchall()
        values = ", ".join(f"round({name}, 6)" if kind in {"DOUBLE", "FLOAT"} else name for name, kind, *_ in columns)
        rows, digest = con.execute(f"select count(*), coalesce(sum(hash({values})), 0) from {BUILD}.{table}").fetchone()
    return f"{rows}:{digest}"


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


def quarantine_examples(path: Path, table: str, rule: str, limit: int = 3) -> list[str]:
    """The keys (the table's first contract column) of a few rows quarantined for `rule`."""
    key = next(t for t in RAW_TABLES if t.name == table).key
    with connect(path, read_only=True) as con:
        rows = con.execute(f"select {key} from {BUILD}.quarantine_{table} where rule = ? order by {key} nulls first "
                           f"limit {int(limit)}", [rule]).fetchall()
    return [f"{key}={value}" for (value,) in rows]


def stage_scores(path: Path, scores: pd.DataFrame | Path) -> int:
    """Write this run's scores (a frame, or the Parquet file streaming scoring wrote) into the
    build schema in one statement, replacing any earlier attempt. The dbt model
    customer_scores then replaces the rows of their date (every step of a run scores the date
    ml/run/dates.py chose)."""
    with connect(path) as con:
        if isinstance(scores, Path):
            relation = f"read_parquet('{scores}')"
        else:
            con.register("scores", scores)
            relation = "scores"
        con.execute(f"create or replace table {SCORES_STAGED} as select * from {relation}")
        return con.execute(f"select count(*) from {SCORES_STAGED}").fetchone()[0]


def write_table(path: Path, table: str, frame: pd.DataFrame) -> int:
    """Replace `table` with the frame's rows; return how many."""
    with connect(path) as con:
        con.register("frame", frame)
        con.execute(f"create or replace table {table} as select * from frame")
        return con.execute(f"select count(*) from {table}").fetchone()[0]


def publish(path: Path, analysts: Path, as_of: date, tables: list[str]) -> dict[str, int]:
    """Write the run's published tables into a new analysts' database file and swap it in.

    The pipeline alone opens its working warehouse `path`; analysts and BI tools open
    `analysts` read-only, at any time. The new file is written beside it and renamed over it
    (`os.replace`, atomic): a reader sees the previous run's tables or this run's, never a mix,
    and an open connection keeps reading the file it opened. The file it replaces stays as
    `<name>.previous.duckdb` for `clm restore`. It is written in DuckDB's v1.4 storage format,
    which the DuckDB 1.4/1.5 clients many BI tools ship can read. A run whose date has no
    scores (an empty customer_features) fails here rather than publish an unscored day.
    """
    partial = analysts.with_name(f".{analysts.name}.partial")
    for leftover in (partial, partial.with_name(partial.name + ".wal")):
        leftover.unlink(missing_ok=True)  # from a run killed while publishing
    with connect(path) as con:
        scored = con.execute(f"select count(*) from {BUILD}.{SCORES} where as_of = ?", [as_of]).fetchone()[0]
        if scored == 0:
            raise ValueError(f"{BUILD}.{SCORES} has no rows for the run's date {as_of}; nothing was published. "
                             "No customer was scored for it: re-run the whole DAG for that date.")
        con.execute(f"attach '{partial}' as {PUBLISHING} (storage_version '{ANALYSTS_STORAGE_VERSION}')")
        for table in tables:
            con.execute(f"create table {PUBLISHING}.main.{table} as select * from {BUILD}.{table}")
        counts = {t: con.execute(f"select count(*) from {PUBLISHING}.main.{t}").fetchone()[0] for t in tables}
        con.execute(f"checkpoint {PUBLISHING}")
        con.execute(f"detach {PUBLISHING}")
    analysts.parent.mkdir(parents=True, exist_ok=True)
    previous = previous_analysts(analysts)
    if analysts.exists():
        previous.unlink(missing_ok=True)
        os.link(analysts, previous)
    os.replace(partial, analysts)
    return {**counts, f"{SCORES} as of {as_of}": scored}


def previous_analysts(analysts: Path) -> Path:
    return analysts.with_name(f"{analysts.stem}.previous{analysts.suffix}")


def restore_previous(analysts: Path) -> None:
    """Put the previous run's analysts' database back (one step: the current one is dropped)."""
    previous = previous_analysts(analysts)
    if not previous.exists():
        raise FileNotFoundError(f"There is no previous analysts' database ({previous}) to restore: "
                                "it exists once two runs have published.")
    os.replace(previous, analysts)


def query(analysts: Path, sql: str) -> tuple[list[str], list[tuple]]:
    """An analyst's query on the analysts' database, read-only: column names and rows."""
    with connect(analysts, read_only=True) as con:
        try:
            cursor = con.execute(sql)
        except duckdb.CatalogException as error:
            if "Table with name" not in str(error):
                raise QueryError(plain(error)) from None
            tables = ", ".join(name for (name,) in con.execute("select table_name from duckdb_tables() order by 1").fetchall())
            raise QueryError(f"{plain(error)} Tables you can query: {tables}.") from None
        except duckdb.Error as error:
            raise QueryError(plain(error)) from None
        return [column[0] for column in cursor.description or []], cursor.fetchall()


class QueryError(ValueError):
    """An analyst's query that DuckDB refused; the message is one plain line."""


def plain(error: duckdb.Error) -> str:
    """DuckDB's message on one line, without its suggestions of internal tables."""
    first = str(error).strip().splitlines()[0]
    return first.split("Did you mean")[0].strip().rstrip(".!") + "."


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
