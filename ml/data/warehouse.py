"""The warehouse the pipeline's steps read and write (schema `build`), and what analysts read.

`opened(settings)` gives the settings' engine: `DuckDBWarehouse` (below) or, with
CLM_ENGINE=spark, `ml.data.spark.SparkWarehouse`. Both read with the SQL the two engines share
and differ in how they write, fingerprint and publish.

The DuckDB databases: the working warehouse dbt and the pipeline write (schema `build`),
and the analysts' database the publish step replaces whole at the end of a good run.

DuckDB allows one writing process per file, so every step opens its own short-lived connection
to the working warehouse and closes it before the next step (dbt included) starts. Nobody
else opens that file: analysts read their own, which the pipeline never opens for writing.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from ml.data.contract import RAW_TABLES, ticket_intents
from ml.settings import Settings

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


def raw_tickets(raw_dir: Path, before: date, labelled: bool = True) -> pd.DataFrame:
    """The landed tickets with text and a date before `before`, oldest first: with `labelled`
    those an intent classifier can learn from, with a label among the contract's intents (read
    as the base model reads it), else all of them (intent NULL where unlabelled)."""
    labels = "and intent in (select unnest(?))" if labelled else ""
    with duckdb.connect() as con:
        return con.execute(
            f"""
            select text, intent, created_at from (
                select cast(text as varchar) as text, nullif(lower(trim(cast(intent as varchar))), '') as intent,
                       try_cast(created_at as timestamp) as created_at
                from read_parquet('{raw_dir / "tickets.parquet"}'))
            where trim(text) <> '' and created_at < ? {labels}
            order by created_at, text
            """, [before, list(ticket_intents())] if labelled else [before]).df()


class Warehouse(ABC):
    """What the steps read from and write to the warehouse: the tables dbt builds in `build`,
    the ones the steps stage there, and the publish of a good run for analysts."""

    @abstractmethod
    def read_frame(self, query: str, params: list | None = None) -> pd.DataFrame:
        """A query's rows (SQL both engines read: `?` marks the params)."""

    @abstractmethod
    def write_table(self, table: str, frame: pd.DataFrame) -> int:
        """Replace `table` with the frame's rows; return how many."""

    @abstractmethod
    def append_table(self, table: str, frame: pd.DataFrame, columns: dict[str, str]) -> int:
        """Add the frame's rows to `table`, created empty with `columns` ({name: SQL type both
        engines read}) where it does not exist; its rows stay. Return how many were added."""

    @abstractmethod
    def fingerprint(self, table: str) -> str:
        """Rows and an order-free hash of every value of a build table: equal when nothing in
        it changed, cheap enough to take on every run."""

    @abstractmethod
    def publish(self, as_of: date, tables: list[str]) -> dict[str, int]:
        """Make the run's published tables what analysts read, all at once; rows per table."""

    @abstractmethod
    def query(self, sql: str) -> tuple[list[str], list[tuple]]:
        """An analyst's query on what analysts read, read-only: column names and rows."""

    @abstractmethod
    def restore(self) -> str:
        """Put back what analysts read before the last publish (one step); say where."""

    @abstractmethod
    def has_table(self, table: str) -> bool:
        """Whether `schema.table` exists."""

    @abstractmethod
    def drop_table(self, table: str) -> None:
        """Drop `schema.table` if it exists."""

    def read_table(self, table: str) -> pd.DataFrame:
        """A whole table of the build schema."""
        return self.read_frame(f"select * from {BUILD}.{table}")

    def rows(self, table: str, where: str = "", params: list | None = None) -> int:
        return int(self.read_frame(f"select count(*) as n from {table} {where}", params)["n"].iloc[0])

    def quarantine_counts(self) -> dict[str, dict[str, int]]:
        """{raw table: {rule: quarantined rows}} from the build schema's quarantine tables."""
        counts = {}
        for name in RAW_TABLE_NAMES:
            frame = self.read_frame(f"select rule, count(*) as n from {BUILD}.quarantine_{name} group by rule")
            counts[name] = {rule: int(n) for rule, n in zip(frame["rule"], frame["n"], strict=True)}
        return counts

    def quarantine_examples(self, table: str, rule: str, limit: int = 3) -> list[str]:
        """The keys (the table's first contract column) of a few rows quarantined for `rule`."""
        key = next(t for t in RAW_TABLES if t.name == table).key
        frame = self.read_frame(f"select {key} from {BUILD}.quarantine_{table} where rule = ? "
                                f"order by {key} nulls first limit {int(limit)}", [rule])
        return [f"{key}={'missing' if pd.isna(value) else value}" for value in frame[key]]

    def check_scored(self, as_of: date) -> int:
        """The run's scored customers; an error when there are none to publish."""
        scored = self.rows(f"{BUILD}.{SCORES}", "where as_of = ?", [as_of])
        if scored == 0:
            raise ValueError(f"{BUILD}.{SCORES} has no rows for the run's date {as_of}; nothing was published. "
                             "No customer was scored for it: re-run the whole DAG for that date.")
        return scored


@contextmanager
def opened(settings: Settings) -> Iterator[Warehouse]:
    """The settings' warehouse for the length of a step."""
    if settings.engine == "spark":
        from ml.data.spark import SparkWarehouse, session

        with session(settings) as spark:
            yield SparkWarehouse(spark)
    else:
        yield DuckDBWarehouse(settings.warehouse, settings.analytics_db)


class DuckDBWarehouse(Warehouse):
    """The working DuckDB file, opened for each call (DuckDB lets one process write a file,
    and dbt's runs in between), and the analysts' file the publish step replaces whole."""

    def __init__(self, path: Path, analysts: Path):
        self.path, self.analysts = path, analysts

    def read_frame(self, query: str, params: list | None = None) -> pd.DataFrame:
        return read_frame(self.path, query, params)

    def fingerprint(self, table: str) -> str:
        """Floating-point values are hashed to 6 decimal places: DuckDB adds them up in
        parallel, so two builds of the same data can differ in the last bits."""
        with connect(self.path, read_only=True) as con:
            columns = con.execute(f"describe {BUILD}.{table}").fetchall()
            values = ", ".join(f"round({name}, 6)" if kind in {"DOUBLE", "FLOAT"} else name
                               for name, kind, *_ in columns)
            rows, digest = con.execute(f"select count(*), coalesce(sum(hash({values})), 0) from {BUILD}.{table}").fetchone()
        return f"{rows}:{digest}"

    def has_table(self, table: str) -> bool:
        if not self.path.exists():  # a first run, before anything was built
            return False
        schema, name = table.split(".")
        return self.rows("information_schema.tables", "where table_schema = ? and table_name = ?", [schema, name]) > 0

    def drop_table(self, table: str) -> None:
        with connect(self.path) as con:
            con.execute(f"drop table if exists {table}")

    def write_table(self, table: str, frame: pd.DataFrame) -> int:
        with connect(self.path) as con:
            con.execute(f"create schema if not exists {table.split('.')[0]}")
            con.register("frame", frame)
            con.execute(f"create or replace table {table} as select * from frame")
            return con.execute(f"select count(*) from {table}").fetchone()[0]

    def append_table(self, table: str, frame: pd.DataFrame, columns: dict[str, str]) -> int:
        with connect(self.path) as con:
            con.execute(f"create schema if not exists {table.split('.')[0]}")
            con.execute(f"create table if not exists {table} ({', '.join(f'{n} {t}' for n, t in columns.items())})")
            con.register("frame", frame[list(columns)])
            con.execute(f"insert into {table} by name select {', '.join(f'cast({n} as {t}) as {n}' for n, t in columns.items())} "
                        "from frame")
        return len(frame)

    def stage_scores(self, scores: pd.DataFrame | Path) -> int:
        """Write this run's scores (a frame, or the Parquet file streaming scoring wrote) into the
        build schema in one statement, replacing any earlier attempt. The dbt model
        customer_scores then replaces the rows of their date (every step of a run scores the date
        ml/run/dates.py chose)."""
        if not isinstance(scores, Path):
            return self.write_table(SCORES_STAGED, scores)
        with connect(self.path) as con:
            con.execute(f"create or replace table {SCORES_STAGED} as select * from read_parquet('{scores}')")
            return con.execute(f"select count(*) from {SCORES_STAGED}").fetchone()[0]

    def publish(self, as_of: date, tables: list[str]) -> dict[str, int]:
        """Write the run's published tables into a new analysts' database file and swap it in.

        The pipeline alone opens its working warehouse; analysts and BI tools open the
        analysts' file read-only, at any time. The new file is written beside it and renamed
        over it (`os.replace`, atomic): a reader sees the previous run's tables or this run's,
        never a mix, and an open connection keeps reading the file it opened. The file it
        replaces stays as `<name>.previous.duckdb` for `clm restore`. It is written in DuckDB's
        v1.4 storage format, which the DuckDB 1.4/1.5 clients many BI tools ship can read. A run
        whose date has no scores (an empty customer_features) fails here rather than publish an
        unscored day.
        """
        scored = self.check_scored(as_of)
        analysts = self.analysts
        partial = analysts.with_name(f".{analysts.name}.partial")
        for leftover in (partial, partial.with_name(partial.name + ".wal")):
            leftover.unlink(missing_ok=True)  # from a run killed while publishing
        with connect(self.path) as con:
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

    def query(self, sql: str) -> tuple[list[str], list[tuple]]:
        return query(self.analysts, sql)

    def restore(self) -> str:
        restore_previous(self.analysts)
        return str(self.analysts)


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
    """An analyst's query on the analysts' DuckDB database, read-only: column names and rows."""
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
    """An analyst's query the engine refused; the message is one plain line."""


def plain(error: duckdb.Error) -> str:
    """DuckDB's message on one line, without its suggestions of internal tables."""
    first = str(error).strip().splitlines()[0]
    return first.split("Did you mean")[0].strip().rstrip(".!") + "."


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
