"""Load a shop's raw exports into the warehouse's landing folder, normalised to the contract.

Each table is read with DuckDB (CSV or Parquet, any size), checked for its required columns,
completed with NULL optional columns and written as one Parquet file. Files are written next
to their final name and renamed into place, so a failed ingest never leaves half a table.
"""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path

import duckdb

from ml.contract import RAW_TABLES, ContractError, RawTable

SNAPSHOT_MARKER = "_snapshot_id"
FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}
READERS = {".parquet": "read_parquet", ".csv": "read_csv_auto", ".tsv": "read_csv_auto"}


def ingest_folder(source: Path, raw_dir: Path) -> dict[str, int]:
    """Normalise every contract table found in `source` into `raw_dir`; return row counts."""
    source = Path(source)
    if not source.is_dir():
        raise ContractError(f"{source} is not a folder. Point `clm ingest folder` at the folder holding orders.csv or orders.parquet.")
    found = {table.name: _find(source, table.name) for table in RAW_TABLES}
    _check_columns(found)
    raw_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("set enable_progress_bar = false")
    try:
        counts = {table.name: _write(con, table, found[table.name], raw_dir) for table in RAW_TABLES}
    finally:
        con.close()
    # A new snapshot replaces the history, so incremental models must rebuild from scratch.
    (raw_dir / SNAPSHOT_MARKER).write_text(uuid.uuid4().hex)
    return counts


def snapshot_id(raw_dir: Path) -> str | None:
    """Changes every time a whole raw snapshot is landed (see `transform.build`)."""
    marker = raw_dir / SNAPSHOT_MARKER
    return marker.read_text() if marker.exists() else None


def raw_row_counts(raw_dir: Path) -> dict[str, int]:
    """Row counts of the landed tables; a clear error when the landing folder is not ready."""
    missing = [t.name for t in RAW_TABLES if not (raw_dir / f"{t.name}.parquet").exists()]
    if missing:
        raise ContractError(
            f"The raw folder {raw_dir} lacks {', '.join(missing)}. Load data first: "
            "`clm ingest folder DIR` or `clm generate --out DIR` then `clm ingest folder DIR`."
        )
    con = duckdb.connect()
    try:
        return {t.name: con.execute(f"select count(*) from read_parquet('{raw_dir / t.name}.parquet')").fetchone()[0]
                for t in RAW_TABLES}
    finally:
        con.close()


def _find(source: Path, name: str) -> Path | None:
    for suffix in READERS:
        candidate = source / f"{name}{suffix}"
        if candidate.exists():
            return candidate
    return None


def _reader(path: Path) -> str:
    return f"{READERS[path.suffix]}('{path}')"


def _check_columns(found: dict[str, Path | None]) -> None:
    problems = []
    con = duckdb.connect()
    try:
        for table in RAW_TABLES:
            path = found[table.name]
            if path is None:
                if table.is_required:
                    problems.append(f"the required table `{table.name}` is missing (expected {table.name}.csv or {table.name}.parquet)")
                continue
            columns = {row[0] for row in con.execute(f"describe select * from {_reader(path)}").fetchall()}
            absent = [c for c in table.required if c not in columns]
            if absent:
                problems.append(f"{path.name} lacks required column(s) {', '.join(absent)}")
    finally:
        con.close()
    if problems:
        raise ContractError("The raw data does not follow the contract: " + "; ".join(problems) + ". Nothing was loaded.")


def _column(name: str, kind: str, present_type: str | None) -> str:
    """The select expression of one contract column: NULL when absent; ids exported as floats
    (pandas turns integer columns with gaps into floats) back to their integer text, so that
    12.0 and 12 join."""
    if present_type is None:
        return f"cast(null as {kind}) as {name}"
    if name.endswith("_id") and present_type in FLOAT_TYPES:
        return (f"case when {name} = floor({name}) then cast(cast({name} as bigint) as varchar) "
                f"else cast({name} as varchar) end as {name}")
    return name


def _write(con: duckdb.DuckDBPyConnection, table: RawTable, path: Path | None, raw_dir: Path) -> int:
    if path is None:
        select = ", ".join(f"cast(null as {kind}) as {col}" for col, kind in table.columns.items())
        query = f"select {select} where false"
    else:
        present = {row[0]: row[1] for row in con.execute(f"describe select * from {_reader(path)}").fetchall()}
        select = ", ".join(_column(col, kind, present.get(col)) for col, kind in table.columns.items())
        query = f"select {select} from {_reader(path)}"
    target = raw_dir / f"{table.name}.parquet"
    partial = raw_dir / f".{table.name}.parquet.partial"
    con.execute(f"copy ({query}) to '{partial}' (format parquet)")
    partial.replace(target)
    return con.execute(f"select count(*) from read_parquet('{target}')").fetchone()[0]


def cdnow_path() -> Path:
    """CDNOW_master.txt inside the installed `lifetimes` wheel, found without importing it
    (lifetimes no longer imports on current setuptools)."""
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise ContractError("The `lifetimes` package is not installed; it carries the CDNOW data set.")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "CDNOW_master.txt"
    if not path.exists():
        raise ContractError(f"{path} is missing from the installed `lifetimes` package.")
    return path


def ingest_cdnow(raw_dir: Path, staging_dir: Path) -> dict[str, int]:
    """CDNOW's transaction log as the raw contract: one order per customer and day (the usual
    treatment in the BG/NBD literature), every other table empty."""
    staging_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute(f"""
            copy (
                select
                    row_number() over (order by customer_id, ordered_at) as order_id,
                    customer_id,
                    ordered_at,
                    round(sum(dollar_value), 2) as amount
                from (
                    select
                        cast(cast(fields[1] as integer) as varchar) as customer_id,
                        cast(strptime(fields[2], '%Y%m%d') as timestamp) as ordered_at,
                        cast(fields[4] as double) as dollar_value
                    from (
                        select string_split_regex(trim(line), '\\s+') as fields
                        from read_csv('{cdnow_path()}', delim = '|', header = false, skip = 1,
                                      columns = {{'line': 'VARCHAR'}})
                    )
                )
                group by customer_id, ordered_at
            ) to '{staging_dir / "orders.parquet"}' (format parquet)
        """)
    finally:
        con.close()
    return ingest_folder(staging_dir, raw_dir)
