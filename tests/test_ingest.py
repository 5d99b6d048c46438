import duckdb
import pandas as pd
import pytest

from ml.data.contract import ContractError
from ml.data.ingest import complete_landing, ingest_folder, raw_row_counts, snapshot_id
from ml.data.pii import scrubbed
from tests.conftest import PII_KEY


def test_orders_only_csv_lands_with_empty_optional_tables(tmp_path):
    source = tmp_path / "export"
    source.mkdir()
    pd.DataFrame({"order_id": [1, 2], "customer_id": ["a", "b"], "ordered_at": ["2025-01-01", "2025-02-01"],
                  "amount": [10.0, 20.0]}).to_csv(source / "orders.csv", index=False)
    counts = ingest_folder(source, tmp_path / "raw", PII_KEY)
    assert counts == {"orders": 2, "customers": 0, "order_items": 0, "products": 0, "events": 0, "reviews": 0,
                      "campaign_contacts": 0, "coupon_redemptions": 0, "tickets": 0}
    assert raw_row_counts(tmp_path / "raw")["orders"] == 2
    columns = [r[0] for r in duckdb.sql(f"describe select * from '{tmp_path}/raw/orders.parquet'").fetchall()]
    assert columns == ["order_id", "customer_id", "ordered_at", "amount", "status"]
    review_columns = [r[0] for r in duckdb.sql(f"describe select * from '{tmp_path}/raw/reviews.parquet'").fetchall()]
    assert "review_text" in review_columns


def test_missing_required_column_is_a_clear_error_and_loads_nothing(tmp_path):
    source = tmp_path / "export"
    source.mkdir()
    pd.DataFrame({"order_id": [1], "customer_id": ["a"], "amount": [1.0]}).to_parquet(source / "orders.parquet")
    with pytest.raises(ContractError, match="orders.parquet lacks required column.*ordered_at"):
        ingest_folder(source, tmp_path / "raw", PII_KEY)
    assert not (tmp_path / "raw").exists()


def test_missing_orders_table_is_named(tmp_path):
    with pytest.raises(ContractError, match="required table `orders` is missing"):
        ingest_folder(tmp_path, tmp_path / "raw", PII_KEY)


def test_ids_exported_as_floats_come_back_as_integers(tmp_path):
    source = tmp_path / "export"
    source.mkdir()
    pd.DataFrame({"order_id": [1.0, 2.0], "customer_id": [7.0, None], "ordered_at": ["2025-01-01", "2025-02-01"],
                  "amount": [10.0, 20.0]}).to_parquet(source / "orders.parquet")
    ingest_folder(source, tmp_path / "raw", PII_KEY)
    rows = duckdb.sql(f"select order_id, customer_id from '{tmp_path}/raw/orders.parquet' order by 1").fetchall()
    assert rows == [("1", "7"), ("2", None)]


def test_a_landing_from_before_the_contract_grew_gains_its_new_tables_empty(tmp_path):
    source = tmp_path / "export"
    source.mkdir()
    pd.DataFrame({"order_id": [1], "customer_id": ["a"], "ordered_at": ["2025-01-01"], "amount": [10.0]}
                 ).to_csv(source / "orders.csv", index=False)
    raw = tmp_path / "raw"
    ingest_folder(source, raw, PII_KEY)
    (raw / "coupon_redemptions.parquet").unlink()
    customers = pd.read_parquet(raw / "customers.parquet")
    customers.drop(columns=["age_band", "income_band", "household_type"]).to_parquet(raw / "customers.parquet")
    snapshot = snapshot_id(raw)
    assert complete_landing(raw) == ["customers.age_band", "customers.income_band", "customers.household_type",
                                     "coupon_redemptions"]
    assert raw_row_counts(raw)["coupon_redemptions"] == 0 and snapshot_id(raw) == snapshot
    columns = [r[0] for r in duckdb.sql(f"describe select * from '{raw}/coupon_redemptions.parquet'").fetchall()]
    assert columns == ["customer_id", "redeemed_at", "coupon_id", "campaign_id"]
    assert complete_landing(raw) == []


def test_tickets_land_without_the_email_addresses_and_long_numbers_their_text_carries(tmp_path):
    source = tmp_path / "export"
    source.mkdir()
    pd.DataFrame({"order_id": [1], "customer_id": ["a"], "ordered_at": ["2025-01-01"], "amount": [10.0]}
                 ).to_csv(source / "orders.csv", index=False)
    pd.DataFrame({"ticket_id": [1, 2], "customer_id": ["a", "a"], "created_at": ["2025-01-03", "2025-01-04"],
                  "text": ["Where is order 12345 from 2025-01-01? Mail Ada.Smith@Example.co.uk or call +44 20 7946 0958.",
                           "Refund to card 4111 1111 1111 1111 please, on 03/01/2025 14:00"],
                  "intent": ["where_is_my_order", None]}).to_parquet(source / "tickets.parquet")
    ingest_folder(source, tmp_path / "raw", PII_KEY)
    landed = pd.read_parquet(tmp_path / "raw" / "tickets.parquet")
    assert landed["text"].tolist() == [
        "Where is order 12345 from 2025-01-01? Mail [email] or call [number].",
        "Refund to card [number] please, on 03/01/2025 14:00"]
    assert landed["intent"].isna().tolist() == [False, True] and landed.loc[0, "intent"] == "where_is_my_order"


def test_review_text_is_scrubbed_too_and_short_numbers_stay():
    assert scrubbed("Size 42, order 98765432, written to me@shop.de") == "Size 42, order 98765432, written to [email]"
    assert scrubbed("account 123456789") == "account [number]"
    assert scrubbed(None) is None
