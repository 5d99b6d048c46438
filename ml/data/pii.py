"""Pseudonymise personal data as it lands, so no raw email or name ever reaches the warehouse.

Emails become a keyed hash (HMAC-SHA256 of the trimmed, lower-cased address): the same
customer keeps the same pseudonym from run to run, so it still joins with a CRM's own keyed
export, but nobody without the key can reverse it with a dictionary of addresses (which an
unsalted md5 allows). Names are not needed by any feature and are dropped. Free text (reviews,
support tickets) lands with the email addresses and long numbers in it (phone, card and account
numbers: nine digits or more) replaced by `[email]` and `[number]`; order numbers and dates stay,
since support needs them. Names inside free text are not recognised.

The key comes from CLM_PII_KEY, or is generated once under CLM_HOME (`pii.key`, readable by
its owner only). It is never written anywhere else, and dbt never sees it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from pathlib import Path

import duckdb
import pyarrow as pa

from ml.settings import owner_only_secret

KEY_ENV = "CLM_PII_KEY"
KEY_FILE = "pii.key"
HASHED = ("email",)
DROPPED = ("first_name", "last_name")
SCRUBBED = ("review_text", "text")
UDF = "clm_pseudonym"
SCRUB_UDF = "clm_scrubbed"
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# A run of digits with the separators phone and card numbers are written with.
NUMBER = re.compile(r"(?<![\w+])\+?\d[\d \t().\-/]*\d(?!\w)")
DATE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")
MIN_SCRUBBED_DIGITS = 9


def key(home: Path) -> bytes:
    """The pseudonymisation key: CLM_PII_KEY, else CLM_HOME/pii.key (made on first use, mode 600)."""
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        return from_env.encode()
    return owner_only_secret(home / KEY_FILE).encode()


def pseudonym(secret: bytes, value: str | None) -> str | None:
    if value is None:
        return None
    return hmac.new(secret, value.strip().lower().encode(), hashlib.sha256).hexdigest()


def scrubbed(text: str | None) -> str | None:
    """`text` with email addresses and numbers of nine digits or more replaced."""
    if text is None:
        return None
    return NUMBER.sub(_number, EMAIL.sub("[email]", text))


def _number(match: re.Match) -> str:
    found = match.group(0)
    if sum(c.isdigit() for c in found) < MIN_SCRUBBED_DIGITS or DATE.search(found):
        return found
    return "[number]"


def register(con: duckdb.DuckDBPyConnection, secret: bytes) -> None:
    """`clm_pseudonym(text)` in `con`: the keyed hash of each value, NULL for NULL; and
    `clm_scrubbed(text)`: free text without its email addresses and long numbers."""
    def vectorised(values: pa.Array) -> pa.Array:
        return pa.array([pseudonym(secret, v) for v in values.to_pylist()], type=pa.string())

    def scrub(values: pa.Array) -> pa.Array:
        return pa.array([scrubbed(v) for v in values.to_pylist()], type=pa.string())

    con.create_function(UDF, vectorised, ["VARCHAR"], "VARCHAR", type="arrow")
    con.create_function(SCRUB_UDF, scrub, ["VARCHAR"], "VARCHAR", type="arrow")


def select_expression(column: str) -> str | None:
    """How ingest lands a PII column (None: it is not PII)."""
    if column in HASHED:
        return f"{UDF}(cast({column} as varchar)) as {column}"
    if column in DROPPED:
        return f"cast(null as varchar) as {column}"
    if column in SCRUBBED:
        return f"{SCRUB_UDF}(cast({column} as varchar)) as {column}"
    return None

