"""The Spark session clm's own steps use on the `spark` engine: the one dbt-spark opens, from the
same settings (profiles.yml's `spark` target, rendered with clm's environment), so both see one
warehouse and one catalog.

Local mode's catalog is an embedded Derby metastore, which one process opens at a time: a step
holds the session for its work and stops it before the next step (dbt included) starts, as with
DuckDB's one writer per file.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import yaml

from ml.data.warehouse import BUILD, SCORES, QueryError, Warehouse
from ml.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Analysts read views in this schema; each run's tables live in a schema of their own
# (analytics_<run>) until two later runs have published.
ANALYTICS = "analytics"
# The table a run's schema gets once every published table is copied into it.
COMPLETE = "clm_run_complete"

# A value of a column's SQL type as Spark takes it in a row (naive timestamps are UTC).
PYTHON = {"timestamp": lambda v: pd.Timestamp(v).tz_localize("UTC").to_pydatetime(), "date": lambda v: pd.Timestamp(v).date(),
          "string": str, "boolean": bool, "int": int, "bigint": int, "double": float}

ENV_VAR = re.compile(r"""\{\{\s*env_var\(\s*'(\w+)'\s*(?:,\s*'([^']*)'\s*)?\)\s*\}\}""")


def spark_target(settings: Settings) -> dict:
    """profiles.yml's spark target with its env_var() calls rendered as dbt renders them."""
    environment = {**os.environ, **settings.env()}

    def render(value: object) -> object:
        if not isinstance(value, str):
            return value
        return ENV_VAR.sub(lambda m: environment.get(m.group(1), m.group(2) or ""), value)

    target = yaml.safe_load((settings.dbt_project_dir / "profiles.yml").read_text())["clm"]["outputs"]["spark"]
    return {key: ({k: render(v) for k, v in value.items()} if isinstance(value, dict) else render(value))
            for key, value in target.items()}


def spark_conf(settings: Settings) -> dict[str, str]:
    """The session's settings: the target's server_side_parameters, with ANSI mode off as
    dbt-spark sets it (its casts of bad text give NULL, as DuckDB's try_cast does)."""
    conf = {str(k): str(v) for k, v in spark_target(settings)["server_side_parameters"].items()}
    return {**conf, "spark.app.name": "clm", "spark.sql.ansi.enabled": "false"}


@contextmanager
def session(settings: Settings) -> Iterator[SparkSession]:
    """A Spark session on the warehouse for the length of a step; stopped on the way out."""
    from pyspark.sql import SparkSession

    # pyspark 4.3 warns on pandas 3 at every conversion; tests/test_engines.py checks them.
    warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
    for name in ("PYSPARK_PYTHON", "SPARK_LOCAL_IP"):
        os.environ.setdefault(name, settings.env()[name])
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()
        stop_java()


def stop_java() -> None:
    """End the JVM pyspark started for this process. Derby stays booted in it after the session
    stops, holding the metastore from the next step's process (dbt's included); the next
    session starts a JVM of its own."""
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    if gateway is None:
        return
    gateway.shutdown()
    if (process := getattr(gateway, "proc", None)) is not None:
        process.terminate()
        process.wait()
    SparkContext._gateway = SparkContext._jvm = None


def to_pandas(frame: DataFrame) -> pd.DataFrame:
    """A Spark frame as pandas in the types DuckDB gives: dates and timestamps as naive
    datetime64[us] (timestamps are UTC in the session), numbers and text as they are."""
    table = frame.toArrow()
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_date(field.type) or pa.types.is_timestamp(field.type):
            column = column.cast(pa.timestamp("us"))
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names).to_pandas()


def literal(value: object) -> object:
    """A query parameter as Spark binds it: dates and timestamps as ISO text it casts back."""
    return value.isoformat(sep=" ") if isinstance(value, datetime) else (
        value.isoformat() if isinstance(value, date) else value)


class SparkWarehouse(Warehouse):
    """The Spark catalog: dbt's tables in `build`, this run's staged tables beside them, and
    what analysts read in `analytics`."""

    def __init__(self, spark: SparkSession):
        self.spark = spark

    def read_frame(self, query: str, params: list | None = None) -> pd.DataFrame:
        args = [literal(p) for p in params] if params else None
        return to_pandas(self.spark.sql(query, args=args))

    def has_table(self, table: str) -> bool:
        return self.spark.catalog.tableExists(table)

    def drop_table(self, table: str) -> None:
        self.spark.sql(f"drop table if exists {table}")

    def write_table(self, table: str, frame: pd.DataFrame) -> int:
        self.spark.sql(f"create schema if not exists {table.split('.')[0]}")
        self.spark.createDataFrame(frame).write.mode("overwrite").format("parquet").saveAsTable(table)
        return self.spark.table(table).count()

    def append_table(self, table: str, frame: pd.DataFrame, columns: dict[str, str]) -> int:
        """Appended as Parquet files beside the table's; rows go in as Python values of the
        declared types (a column of NULLs has no type Spark could infer), timestamps as UTC."""
        schema = ", ".join(f"{name} {kind}" for name, kind in columns.items())
        self.spark.sql(f"create schema if not exists {table.split('.')[0]}")
        self.spark.sql(f"create table if not exists {table} ({schema}) using parquet")
        if len(frame):
            rows = [tuple(None if pd.isna(value) else PYTHON[kind](value) for value, kind in zip(row, columns.values(), strict=True))
                    for row in frame[list(columns)].itertuples(index=False, name=None)]
            self.spark.createDataFrame(rows, schema).write.mode("append").format("parquet").saveAsTable(table)
        return len(frame)

    def write_frame(self, table: str, frame: DataFrame) -> int:
        """Replace `table` with a Spark frame's rows (computed once, where they lie)."""
        frame.write.mode("overwrite").format("parquet").saveAsTable(table)
        return self.spark.table(table).count()

    def fingerprint(self, table: str) -> str:
        """Floating-point values are hashed to 6 decimal places, as on DuckDB."""
        columns = self.spark.table(f"{BUILD}.{table}").dtypes
        values = ", ".join(f"round(`{name}`, 6)" if kind in {"double", "float"} else f"`{name}`"
                           for name, kind in columns)
        rows, digest = self.spark.sql(f"select count(*), coalesce(sum(cast(xxhash64({values}) as decimal(38, 0))), 0) "
                                      f"from {BUILD}.{table}").first()
        return f"{rows}:{digest}"

    def publish(self, as_of: date, tables: list[str]) -> dict[str, int]:
        """Copy the run's published tables into a schema of its own, analytics_<run>, mark it
        complete, then point the views of `analytics` at it. Until the views move nothing
        analysts read changed, and each view always shows one run's whole table. A copy that
        fails is dropped; one killed half way is never marked, and the next publish drops it.
        The run before stays for `clm restore`; older ones are dropped."""
        scored = self.check_scored(as_of)
        run = f"{ANALYTICS}_{datetime.now().strftime('%Y%m%d%H%M%S%f')}"
        self.spark.sql(f"create schema {run}")
        counts = {}
        try:
            for table in tables:
                self.spark.sql(f"create table {run}.{table} using parquet as select * from {BUILD}.{table}")
                counts[table] = self.spark.table(f"{run}.{table}").count()
            self.spark.sql(f"create table {run}.{COMPLETE} using parquet as select current_timestamp() as published_at")
        except Exception:
            self.spark.sql(f"drop schema {run} cascade")
            raise
        self.point_views(run, tables)
        complete = self.runs()
        for old in [s for s in self.schemas() if s not in complete[-2:]]:
            self.spark.sql(f"drop schema {old} cascade")
        return {**counts, f"{SCORES} as of {as_of}": scored}

    def point_views(self, run: str, tables: list[str]) -> None:
        """`alter view` where the view exists: Spark's `create or replace view` drops the view
        and creates it again, and a reader between the two finds no table."""
        self.spark.sql(f"create schema if not exists {ANALYTICS}")
        for table in tables:
            verb = "alter" if self.spark.catalog.tableExists(f"{ANALYTICS}.{table}") else "create"
            self.spark.sql(f"{verb} view {ANALYTICS}.{table} as select * from {run}.{table}")

    def restore(self) -> str:
        runs = self.runs()
        if len(runs) < 2:
            raise FileNotFoundError(f"There is no previous run in the Spark catalog to restore ({ANALYTICS}_<run> schemas: "
                                    f"{', '.join(runs) or 'none'}): it exists once two runs have published.")
        tables = [t.name for t in self.spark.catalog.listTables(runs[-2]) if t.name != COMPLETE]
        self.point_views(runs[-2], tables)
        self.spark.sql(f"drop schema {runs[-1]} cascade")
        return f"the Spark schema {ANALYTICS} ({runs[-2]})"

    def schemas(self) -> list[str]:
        """Every run's schema, complete or not, oldest first."""
        names = [row[0] for row in self.spark.sql("show schemas").collect()]
        return sorted(n for n in names if re.fullmatch(rf"{ANALYTICS}_\d+", n))

    def runs(self) -> list[str]:
        """The schemas of runs whose copy completed, oldest first."""
        return [s for s in self.schemas() if self.spark.catalog.tableExists(f"{s}.{COMPLETE}")]

    def query(self, sql: str) -> tuple[list[str], list[tuple]]:
        from pyspark.errors import PySparkException

        self.spark.catalog.setCurrentDatabase(ANALYTICS)
        try:
            frame = self.spark.sql(sql)
            rows = [tuple(row) for row in frame.collect()]
        except PySparkException as error:
            first = str(error).strip().splitlines()[0]
            if "TABLE_OR_VIEW_NOT_FOUND" in first:
                names = ", ".join(sorted(t.name for t in self.spark.catalog.listTables(ANALYTICS)))
                raise QueryError(f"{first} Tables you can query: {names}.") from None
            raise QueryError(first) from None
        return frame.columns, rows
