"""Pseudonymise personal data as it lands, so no raw email or name ever reaches the warehouse.

Emails become a keyed hash (HMAC-SHA256 of the trimmed, lower-cased address): the same
customer keeps the same pseudonym from run to run, so it still joins with a CRM's own keyed
export, but nobody without the key can reverse it with a dictionary of addresses (which an
unsalted md5 allows). Names are not needed by any feature and are dropped.

The key comes from CLM_PII_KEY, or is generated once under CLM_HOME (`pii.key`, readable by
its owner only). It is never written anywhere else, and dbt never sees it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import duckdb
import pyarrow as pa

KEY_ENV = "CLM_PII_KEY"
KEY_FILE = "pii.key"
HASHED = ("email",)
DROPPED = ("first_name", "last_name")
UDF = "clm_pseudonym"


def key(home: Path) -> bytes:
    """The pseudonymisation key: CLM_PII_KEY, else CLM_HOME/pii.key (made on first use, mode 600)."""
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        return from_env.encode()
    path = home / KEY_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def pseudonym(secret: bytes, value: str | None) -> str | None:
    if value is None:
        return None
    return hmac.new(secret, value.strip().lower().encode(), hashlib.sha256).hexdigest()


def register(con: duckdb.DuckDBPyConnection, secret: bytes) -> None:
    """`clm_pseudonym(text)` in `con`: the keyed hash of each value, NULL for NULL."""
    def vectorised(values: pa.Array) -> pa.Array:
        return pa.array([pseudonym(secret, v) for v in values.to_pylist()], type=pa.string())

    con.create_function(UDF, vectorised, ["VARCHAR"], "VARCHAR", type="arrow")


def select_expression(column: str) -> str | None:
    """How ingest lands a PII column (None: it is not PII)."""
    if column in HASHED:
        return f"{UDF}(cast({column} as varchar)) as {column}"
    if column in DROPPED:
        return f"cast(null as varchar) as {column}"
    return None

