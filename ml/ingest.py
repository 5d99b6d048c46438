"""Load a shop's raw exports into the warehouse's landing folder, normalised to the contract.

Each table is read with DuckDB (CSV or Parquet, any size), checked for its required columns,
completed with NULL optional columns and written as one Parquet file. Files are written next
to their final name and renamed into place, so a failed ingest never leaves half a table.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from ml.contract import RAW_TABLES, ContractError, RawTable

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
    try:
        return {table.name: _write(con, table, found[table.name], raw_dir) for table in RAW_TABLES}
    finally:
        con.close()


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


def _write(con: duckdb.DuckDBPyConnection, table: RawTable, path: Path | None, raw_dir: Path) -> int:
    if path is None:
        select = ", ".join(f"cast(null as {kind}) as {col}" for col, kind in table.columns.items())
        query = f"select {select} where false"
    else:
        present = {row[0] for row in con.execute(f"describe select * from {_reader(path)}").fetchall()}
        select = ", ".join(col if col in present else f"cast(null as {kind}) as {col}" for col, kind in table.columns.items())
        query = f"select {select} from {_reader(path)}"
    target = raw_dir / f"{table.name}.parquet"
    partial = raw_dir / f".{table.name}.parquet.partial"
    con.execute(f"copy ({query}) to '{partial}' (format parquet)")
    partial.replace(target)
    return con.execute(f"select count(*) from read_parquet('{target}')").fetchone()[0]
