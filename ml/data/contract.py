"""The raw data contract: which tables a shop exports and which columns each must have.

`orders` is the only required table. Every other table enriches the features when present;
when absent, ingest writes it empty with the full schema so the warehouse models never branch
on what a shop happens to export.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import yaml

from ml.settings import PROJECT_DIR


@dataclass(frozen=True)
class RawTable:
    name: str
    required: dict[str, str]
    optional: dict[str, str]
    is_required: bool = False

    @property
    def columns(self) -> dict[str, str]:
        return {**self.required, **self.optional}

    @property
    def key(self) -> str:
        """The column that names a row in messages: the first required one."""
        return next(iter(self.required))


RAW_TABLES: tuple[RawTable, ...] = (
    RawTable(
        "orders",
        required={"order_id": "VARCHAR", "customer_id": "VARCHAR", "ordered_at": "TIMESTAMP", "amount": "DOUBLE"},
        optional={"status": "VARCHAR"},
        is_required=True,
    ),
    RawTable(
        "customers",
        required={"customer_id": "VARCHAR"},
        optional={"email": "VARCHAR", "first_name": "VARCHAR", "last_name": "VARCHAR",
                  "country": "VARCHAR", "signed_up_at": "TIMESTAMP",
                  # Demographics, as bands the shop defines ("35-44", "50-74K", "2 Adults No Kids").
                  "age_band": "VARCHAR", "income_band": "VARCHAR", "household_type": "VARCHAR"},
    ),
    RawTable(
        "order_items",
        required={"order_id": "VARCHAR", "product_id": "VARCHAR"},
        optional={"order_item_id": "VARCHAR", "quantity": "INTEGER", "unit_price": "DOUBLE", "discount": "DOUBLE"},
    ),
    RawTable(
        "products",
        required={"product_id": "VARCHAR"},
        optional={"product_name": "VARCHAR", "category": "VARCHAR", "price": "DOUBLE"},
    ),
    RawTable(
        "events",
        required={"customer_id": "VARCHAR", "event_type": "VARCHAR", "occurred_at": "TIMESTAMP"},
        optional={"event_id": "VARCHAR", "session_id": "VARCHAR", "product_id": "VARCHAR"},
    ),
    RawTable(
        "reviews",
        required={"customer_id": "VARCHAR", "rating": "DOUBLE", "reviewed_at": "TIMESTAMP"},
        optional={"review_id": "VARCHAR", "product_id": "VARCHAR", "order_id": "VARCHAR", "review_text": "VARCHAR"},
    ),
    RawTable(
        "campaign_contacts",
        required={"customer_id": "VARCHAR", "campaign_id": "VARCHAR", "contacted_at": "TIMESTAMP"},
        optional={"campaign_type": "VARCHAR"},
    ),
    RawTable(
        "coupon_redemptions",
        required={"customer_id": "VARCHAR", "redeemed_at": "TIMESTAMP"},
        optional={"coupon_id": "VARCHAR", "campaign_id": "VARCHAR"},
    ),
    RawTable(
        "tickets",
        required={"ticket_id": "VARCHAR", "customer_id": "VARCHAR", "created_at": "TIMESTAMP", "text": "VARCHAR"},
        # The help desk's label, where an agent set one: one of the dbt var ticket_intents.
        optional={"intent": "VARCHAR"},
    ),
)


@dataclass(frozen=True)
class Limits:
    """Raw values past these are export errors, quarantined by the dbt build (the rules in
    dbt_project/macros/quarantine_rules.sql). They are defined once, as the dbt project's vars;
    Python reads them from there wherever it applies a rule before dbt runs."""

    max_plausible_number: float
    earliest_timestamp: str


@cache
def _dbt_vars() -> dict:
    return yaml.safe_load((PROJECT_DIR / "dbt_project" / "dbt_project.yml").read_text())["vars"]


def limits() -> Limits:
    variables = _dbt_vars()
    return Limits(float(variables["max_plausible_number"]), str(variables["earliest_timestamp"]))


def ticket_intents() -> tuple[str, ...]:
    """The intents a support ticket can carry (the dbt var ticket_intents): the labels the help
    desk sets and the intent classifier predicts. A raw label outside them is quarantined."""
    return tuple(_dbt_vars()["ticket_intents"])


class ContractError(ValueError):
    """Raw input that does not follow the contract; the message says what to fix."""
