"""What the analysts' database says about one customer, read fast enough for a help desk's
traffic and never from half a run.

Each published file is read once into a snapshot: one row per customer holding everything a
reply needs, built by DuckDB and kept as an Arrow table sorted by customer id, which a request
finds by binary search (about 20 µs; a DuckDB query per request cost 0.6 ms of the event loop's
time, which all requests share). A run's publish renames a new file over the old one
(ml/data/warehouse.py): the first request that sees the file's inode or mtime change starts
reading the new file on a thread of its own while requests go on answering from the old
snapshot, and the next requests after it is read answer from the new one, so an answer never mixes
two runs and never waits for a swap. (The file is attached to a fresh in-memory database: a
second `duckdb.connect` of the same path would be handed the instance already open, still on
the old file.)
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from ml import analysts_file
from ml.analysts_file import Unavailable, first_line

log = logging.getLogger(__name__)
# What a clm analysts' database holds at least; a file without them is someone else's.
REQUIRED = ("customer_segments", "customer_scores", "next_best_action", "recommendations", "customer_products",
            "products")
NO_RUN = "No run has published yet: run `clm run` (or `make demo`) and ask again."
RECOMMENDATIONS = 3
LATEST_PURCHASES = 3
RETRY_S = 30  # a file that could not be read is read again this many seconds later
COLUMNS = ("customer_id", "as_of", "segment", "lifecycle_stage", "value_tier", "churn_probability", "churn_reasons",
           "action", "campaign", "in_holdout", "treated", "risk_band", "recommendations", "latest_purchases")
# Each customer of the latest scoring, that scoring's action, their latest recommendations and purchases.
CONTEXT = f"""
create table context (customer_id varchar primary key, as_of varchar, segment varchar, lifecycle_stage varchar,
    value_tier varchar, churn_probability double, churn_reasons varchar[], action varchar, campaign varchar,
    in_holdout boolean, treated boolean, risk_band varchar,
    recommendations struct(product_id varchar, product_name varchar, category varchar)[],
    latest_purchases struct(product_id varchar, product_name varchar, last_purchased_on varchar)[]);
insert into context
with segments as (
    select * from a.customer_segments where as_of = (select max(as_of) from a.customer_segments)
),
actions as (
    select customer_id, action, campaign, in_holdout, treated, risk_band from a.next_best_action
    where cast(as_of as date) = (select cast(max(as_of) as date) from segments)
),
recommended as (
    select customer_id, list({{'product_id': product_id::varchar, 'product_name': product_name,
                              'category': category}} order by rank)[1:{RECOMMENDATIONS}] as recommendations
    from a.recommendations where as_of = (select max(as_of) from a.recommendations) group by customer_id
),
bought as (
    select b.customer_id, list({{'product_id': b.product_id::varchar, 'product_name': p.product_name,
                                'last_purchased_on': cast(b.last_purchased_at as date)::varchar}}
                              order by b.last_purchased_at desc, b.product_id)[1:{LATEST_PURCHASES}] as latest_purchases
    from a.customer_products as b left join a.products as p on p.product_id = b.product_id
    where b.as_of = (select max(as_of) from a.customer_products) group by b.customer_id
)
select s.customer_id::varchar, cast(s.as_of as date)::varchar, s.rfm_segment, s.lifecycle_stage, s.value_tier,
       c.churn_probability, [c.churn_reason_1, c.churn_reason_2, c.churn_reason_3],
       n.action, n.campaign, coalesce(n.in_holdout, false), coalesce(n.treated, false), n.risk_band,
       coalesce(r.recommendations, []), coalesce(b.latest_purchases, [])
from segments as s
left join a.customer_scores as c on c.customer_id = s.customer_id and cast(c.as_of as date) = cast(s.as_of as date)
left join actions as n on n.customer_id = s.customer_id
left join recommended as r on r.customer_id = s.customer_id
left join bought as b on b.customer_id = s.customer_id
"""


@dataclass(frozen=True)
class Snapshot:
    """One file's customers: the rows sorted by customer id, and the ids as a NumPy array to search."""

    rows: pa.Table
    ids: np.ndarray
    as_of: str | None

    @classmethod
    def of(cls, rows: pa.Table) -> Snapshot:
        ids = np.asarray(rows.column("customer_id").to_pylist(), dtype=str)
        order = np.argsort(ids, kind="stable")
        as_of = rows.column("as_of")
        return cls(rows.take(order), ids[order], max(as_of.to_pylist()) if len(as_of) else None)

    def find(self, customer_id: str) -> dict | None:
        at = int(np.searchsorted(self.ids, customer_id))
        if at == len(self.ids) or self.ids[at] != customer_id:
            return None
        return self.rows.slice(at, 1).to_pylist()[0]


@dataclass(frozen=True)
class Customer:
    """One customer as the latest scoring date saw them."""

    customer_id: str
    as_of: str
    segment: str | None
    lifecycle_stage: str | None
    value_tier: str | None
    churn_probability: float | None
    churn_reasons: list[str]
    action: str | None
    campaign: str | None
    in_holdout: bool
    treated: bool
    risk_band: str | None
    recommendations: list[dict]
    latest_purchases: list[dict]


class Analysts:
    """The analysts' database as the latest publish left it."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._snapshot: Snapshot | None = None
        self._reading: threading.Thread | None = None
        self._failed: Unavailable | None = None
        self._retry_at = 0.0
        self.swaps = 0  # how many published files this process has read: a new run, new champions

    def warm(self) -> str:
        """Read the file before the first request, so none waits for it; say what was read."""
        try:
            self._current()
        except Unavailable as error:
            return str(error)
        return f"the scoring of {self.state()['as_of']}"

    def customer(self, customer_id: str) -> Customer | None:
        """The customer's context, None when the latest scoring has no such customer."""
        found = self._current().find(customer_id)
        if found is None:
            return None
        found["churn_reasons"] = [reason for reason in found["churn_reasons"] if reason]
        found["in_holdout"], found["treated"] = bool(found["in_holdout"]), bool(found["treated"])
        return Customer(**found)

    def _current(self) -> Snapshot:
        """The snapshot of the file as it is now. A new file is read on a thread of its own while
        requests go on reading the snapshot before it; only the first snapshot is waited for."""
        seen = analysts_file.signature(self.path, NO_RUN)
        with self._lock:
            if seen != self._seen and self._reading is None and time.monotonic() >= self._retry_at:
                self._reading = threading.Thread(target=self._read, args=(seen,), name="clm-serve-snapshot", daemon=True)
                self._reading.start()
            reading, snapshot = self._reading, self._snapshot
        if snapshot is None and reading is not None:
            reading.join()
        with self._lock:
            if self._snapshot is None:
                raise self._failed or Unavailable(NO_RUN)
            return self._snapshot

    def _read(self, seen: tuple[int, int]) -> None:
        try:
            snapshot = Snapshot.of(self._rows())
        except Unavailable as error:
            log.warning("%s (read again in %d s)", error, RETRY_S)
            with self._lock:  # the last good snapshot, if any, goes on answering
                self._failed, self._reading, self._retry_at = error, None, time.monotonic() + RETRY_S
            return
        with self._lock:
            self._snapshot, self._seen, self._failed, self._reading = snapshot, seen, None, None
            self.swaps += 1

    def state(self) -> dict:
        """What /v1/health tells: the snapshot's scoring date, the files read, and why the latest
        file could not be read, while it cannot."""
        with self._lock:
            snapshot, failed = self._snapshot, self._failed
        return {"as_of": snapshot.as_of if snapshot else None, "files_read": self.swaps,
                "unreadable": str(failed) if failed else None}

    def _rows(self) -> pa.Table:
        """One row per customer of the file's latest scoring, with everything a reply reads (the
        primary key refuses a file that would give a customer two)."""
        with duckdb.connect() as db:
            try:
                db.execute("attach '" + str(self.path).replace("'", "''") + "' as a (read_only)")
                tables = {name for (name,) in db.execute(
                    "select table_name from duckdb_tables() where database_name = 'a'").fetchall()}
                missing = [t for t in REQUIRED if t not in tables]
                if missing:
                    raise Unavailable(f"{self.path} is not a clm analysts' database (it has no table "
                                      f"{', '.join(missing)}). Point CLM_ANALYTICS_DB at the file `clm info` names. "
                                      f"{NO_RUN}")
                db.execute(CONTEXT)
                db.execute("detach a")
                rows = db.sql(f"select {', '.join(COLUMNS)} from context").to_arrow_table()
            except duckdb.Error as error:
                raise Unavailable(f"{self.path} could not be read as the analysts' DuckDB database of this clm "
                                  f"({first_line(error)}). Point CLM_ANALYTICS_DB at the file `clm info` names, or "
                                  "run `clm run` to publish it again.") from None
        if rows.num_rows == 0:
            raise Unavailable(NO_RUN)
        return rows
