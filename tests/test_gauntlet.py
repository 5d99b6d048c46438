"""Bad input, variant by variant: each is refused with a plain message naming the file and what
is wrong (and the previous landing stays as it was), or lands and is quarantined with its rule."""

from __future__ import annotations

import hashlib
from datetime import date

import duckdb
import pandas as pd
import pytest

from ml import settings as settings_module
from ml.data import dbt_runner
from ml.data.contract import ContractError
from ml.data.ingest import day_after_last_order, ingest_folder
from tests.conftest import PII_KEY

ORDERS = pd.DataFrame({"order_id": ["1", "2", "3"], "customer_id": ["a", "b", "a"],
                       "ordered_at": ["2025-01-01", "2025-02-01", "2025-03-01"], "amount": [10.0, 20.0, 30.0]})


def landed(raw) -> dict[str, str]:
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(raw.glob("*.parquet"))}


def export(folder, **files) -> None:
    """Write a folder of exports: DataFrames as CSV (name.csv) or Parquet, bytes as they are."""
    folder.mkdir(exist_ok=True)
    for name, content in files.items():
        path = folder / name.replace("_csv", ".csv").replace("_parquet", ".parquet")
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif path.suffix == ".csv":
            content.to_csv(path, index=False)
        else:
            content.to_parquet(path, index=False)


REFUSED = {
    "not parquet at all": ({"orders_parquet": b"order_id,customer_id\n1,a\n"}, "orders.parquet cannot be read as PARQUET"),
    "an empty file": ({"orders_csv": b""}, "orders.csv"),
    "a required column missing": ({"orders_csv": ORDERS.drop(columns="amount")}, "orders.csv lacks required column(s) amount"),
    "not UTF-8": ({"orders_csv": "order_id,customer_id,ordered_at,amount\n1,a,2025-01-01,10\n2,b\xe9\xff,2025-02-01,5\n"
                                 .encode("latin-1")}, "orders.csv"),
    "no orders table": ({"customers_csv": pd.DataFrame({"customer_id": ["a"]})}, "required table `orders` is missing"),
    "a customers file that is not CSV": ({"orders_csv": ORDERS, "customers_csv": bytes(range(256)) * 4}, "customers.csv"),
}


@pytest.mark.parametrize("variant", list(REFUSED))
def test_an_unreadable_export_is_refused_in_plain_words_and_loads_nothing(tmp_path, variant):
    raw = tmp_path / "raw"
    export(tmp_path / "good", orders_csv=ORDERS)
    ingest_folder(tmp_path / "good", raw, PII_KEY)
    before = landed(raw)
    files, message = REFUSED[variant]
    export(tmp_path / "bad", **files)
    with pytest.raises(ContractError) as refused:
        ingest_folder(tmp_path / "bad", raw, PII_KEY)
    text = str(refused.value)
    assert message in text and "\n" not in text.strip() and "Traceback" not in text
    assert landed(raw) == before and not list(raw.glob(".*partial"))


def test_extra_columns_are_dropped_and_missing_optional_ones_land_empty(tmp_path):
    export(tmp_path / "shop", orders_csv=ORDERS.assign(coupon_code="X", internal_note="n"))
    ingest_folder(tmp_path / "shop", tmp_path / "raw", PII_KEY)
    columns = [r[0] for r in duckdb.sql(f"describe select * from '{tmp_path}/raw/orders.parquet'").fetchall()]
    assert columns == ["order_id", "customer_id", "ordered_at", "amount", "status"]


def with_bad_orders(shop_dir, folder) -> tuple[pd.DataFrame, dict[str, dict]]:
    """An export of the shop in `folder` whose orders.csv has a bad row for each rule of the
    orders table: the shop's orders and {rule: the row's change to a good order}."""
    orders = pd.read_parquet(shop_dir / "orders.parquet")
    orders["order_id"] = orders["order_id"].astype(str)
    orders["ordered_at"] = orders["ordered_at"].astype(str)
    orders["amount"] = orders["amount"].astype(str)
    good = orders.iloc[0]
    bad = {
        "unparseable_amount": {"order_id": "b1", "amount": "12,50 EUR"},
        "missing_order_id": {"order_id": None},
        "duplicate_order_id": {"order_id": good["order_id"], "ordered_at": "2025-12-30"},
        "implausible_amount": {"order_id": "b2", "amount": "1e300"},
        "ordered_at_before_1990": {"order_id": "b3", "ordered_at": "1900-01-01"},
        "future_ordered_at": {"order_id": "b4", "ordered_at": "2099-01-01"},
        "unparseable_ordered_at": {"order_id": "b5", "ordered_at": "next tuesday"},
        "orphan_customer_id": {"order_id": "b6", "customer_id": 999_999},
        "negative_amount": {"order_id": "b7", "amount": "-5"},
    }
    rows = pd.DataFrame([{**good.to_dict(), **change} for change in bad.values()])
    export(folder, **{f"{p.stem}_parquet": pd.read_parquet(p) for p in shop_dir.glob("*.parquet") if p.stem != "orders"})
    pd.concat([orders, rows]).to_csv(folder / "orders.csv", index=False)
    return orders, bad


def with_bad_tickets(folder) -> dict[str, str]:
    """Add a bad ticket for each rule of the tickets table to the export in `folder`, and one
    whose label differs from an intent in case and spaces only (kept); {ticket_id: rule}."""
    tickets = pd.read_parquet(folder / "tickets.parquet")
    tickets["ticket_id"] = tickets["ticket_id"].astype(str)
    tickets["created_at"] = tickets["created_at"].astype(str)
    good = tickets.iloc[0]
    bad = {
        "t1": {"text": "   "},
        "t2": {"intent": "Shipping"},
        "t3": {"customer_id": 999_999},
        "t4": {"created_at": "2099-01-01"},
        "t5": {"created_at": "yesterday"},
        "t6": {"customer_id": None},
        good["ticket_id"]: {"created_at": "2025-12-30"},
        "t7": {"intent": " Complaint "},
    }
    rows = pd.DataFrame([{**good.to_dict(), "ticket_id": ticket, **change} for ticket, change in bad.items()])
    pd.concat([tickets, rows]).to_parquet(folder / "tickets.parquet", index=False)
    return {"t1": "missing_text", "t2": "unknown_intent", "t3": "orphan_customer_id", "t4": "future_created_at",
            "t5": "unparseable_created_at", "t6": "missing_customer_id", good["ticket_id"]: "duplicate_ticket_id"}


@pytest.mark.slow
def test_every_bad_row_is_quarantined_with_its_rule(tmp_path, monkeypatch, tiny_shop):
    """One shop with a row for each rule; the dbt build sets each aside and keeps the rest."""
    monkeypatch.setenv("CLM_HOME", str(tmp_path / "home"))
    settings = settings_module.load()
    orders, bad = with_bad_orders(tiny_shop, tmp_path / "shop")
    bad_tickets = with_bad_tickets(tmp_path / "shop")
    ingest_folder(tmp_path / "shop", settings.raw_dir, PII_KEY)

    as_of = day_after_last_order(settings.raw_dir)
    assert as_of == pd.Timestamp(orders["ordered_at"].max()).date() + pd.Timedelta(days=1).to_pytimedelta()
    dbt_runner.build(dbt_runner.FEATURE_SELECTOR, date.fromisoformat(str(as_of)), settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        quarantined = dict(con.execute("select rule, count(*) from build.quarantine_orders group by 1").fetchall())
        orders_counted = con.execute("select sum(frequency) from build.customer_features").fetchone()[0]
        tickets = dict(con.execute("select ticket_id, rule from build.quarantine_tickets").fetchall())
    assert quarantined == {rule: 1 for rule in bad}
    assert tickets == bad_tickets
    assert orders_counted == (orders["status"] != "cancelled").sum()
