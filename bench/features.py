"""Feature-build benchmark: dbt's build of the customer 360 against one hand-written DuckDB query.

For each size, a shop with that many clickstream events (and 1 customer per 100 events, 1
order per 20) is written as Parquet by DuckDB itself, landed with `clm ingest`, then:

* `dbt`: `dbt build --select +customer_features`, the features and everything upstream of
  them (contract rules, staging, the four as-of dates, every feature) with all their tests,
  through the pipeline's own `dbt_runner.build` (full refresh of the new snapshot). dbt's
  parse cache is warm, as in every scheduled run after the first: a run parses the unchanged
  project from the previous day's cache (a first run ever parses it whole, ~3 s more);
* `hand`: one DuckDB query over the same landed files computing the core aggregates (RFM from
  orders; sessions, views, carts, purchases, recent sessions from events) per customer for the
  same four as-of dates, written to a table, with the same DuckDB settings as dbt's profile.

Both run in their own process; wall time and peak resident memory (process tree) are measured.
The two sides alternate `--repeats` times (3 by default) on the same landed shop: times on a
shared VM vary by 10-20% run to run, so the ratio is of the medians, and the spread is printed.
Prints events/second, the dbt/hand ratio, and peak memory (the largest of the runs) per size,
and writes them to docs/benchmarks/features.md (bench/report.py).

    python bench/features.py                 # 1M, 10M, 100M events
    python bench/features.py --sizes 1e6     # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import psutil
import report
import yaml

AS_OF = date(2026, 1, 1)
SELECTOR = "+customer_features"
PROFILE = Path(__file__).resolve().parents[1] / "dbt_project" / "profiles.yml"
CUTOFFS = ("2026-01-01", "2025-10-03", "2025-09-03", "2025-08-04")
SPAN_SECONDS = 2 * 365 * 86400

HAND_QUERY = """
create or replace table hand_features as
with dates as (
    select cast(unnest({cutoffs}) as date) as as_of
),
customers as (
    select cast(customer_id as varchar) as customer_id, min(first_seen) as first_seen_at
    from (
        select customer_id, cast(signed_up_at as timestamp) as first_seen from read_parquet('{raw}/customers.parquet')
        union all
        select customer_id, cast(ordered_at as timestamp) from read_parquet('{raw}/orders.parquet')
    )
    group by 1
),
spine as (
    select customers.customer_id, dates.as_of
    from customers join dates on customers.first_seen_at < dates.as_of
),
orders as (
    select cast(customer_id as varchar) as customer_id, cast(ordered_at as timestamp) as ordered_at, amount
    from read_parquet('{raw}/orders.parquet')
    where status != 'cancelled' and amount >= 0
),
order_features as (
    select spine.customer_id, spine.as_of,
        count(orders.ordered_at) as frequency,
        coalesce(sum(orders.amount), 0) as monetary,
        date_diff('day', max(orders.ordered_at), cast(spine.as_of as timestamp)) as recency_days
    from spine left join orders on orders.customer_id = spine.customer_id and orders.ordered_at < spine.as_of
    group by spine.customer_id, spine.as_of
),
daily as (
    select cast(customer_id as varchar) as customer_id, cast(occurred_at as date) as event_date,
        count(distinct session_id) as sessions,
        count(*) filter (where event_type = 'product_view') as product_views,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
        count(*) filter (where event_type = 'purchase') as purchases
    from read_parquet('{raw}/events.parquet')
    group by 1, 2
),
event_features as (
    select spine.customer_id, spine.as_of,
        coalesce(sum(daily.sessions), 0) as sessions,
        coalesce(sum(daily.product_views), 0) as product_views,
        coalesce(sum(daily.add_to_carts), 0) as add_to_carts,
        coalesce(sum(daily.purchases), 0) as purchases,
        coalesce(sum(daily.sessions) filter (where daily.event_date >= spine.as_of - interval 30 day), 0)
            as sessions_last_30d
    from spine left join daily on daily.customer_id = spine.customer_id and daily.event_date < spine.as_of
    group by spine.customer_id, spine.as_of
)
select * from order_features join event_features using (customer_id, as_of)
"""


def write_shop(folder: Path, events: int) -> None:
    """A shop of the given size, written by DuckDB straight to Parquet (fast at 100M rows)."""
    customers, orders = max(events // 100, 100), max(events // 20, 100)
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"set temp_directory = '{folder / 'tmp'}'")
    con.execute("set enable_progress_bar = false")
    con.execute(f"""copy (select i as customer_id, 'c' || i || '@example.com' as email,
                        timestamp '2024-01-01' + to_seconds(hash(i) % {SPAN_SECONDS // 2}) as signed_up_at
                        from range({customers}) t(i)) to '{folder}/customers.parquet'""")
    con.execute(f"""copy (select i as product_id, 'p' || i as product_name, 'cat' || (i % 8) as category,
                        10.0 + i % 50 as price from range(200) t(i)) to '{folder}/products.parquet'""")
    con.execute(f"""copy (select i as order_id, hash(i) % {customers} as customer_id,
                        timestamp '2024-01-01' + to_seconds(hash(i * 7) % {SPAN_SECONDS}) as ordered_at,
                        round(5 + (hash(i * 3) % 20000) / 100.0, 2) as amount,
                        case when i % 50 = 0 then 'cancelled' else 'completed' end as status
                        from range({orders}) t(i)) to '{folder}/orders.parquet'""")
    con.execute(f"""copy (select i as order_item_id, i as order_id, hash(i) % 200 as product_id, 1 as quantity,
                        10.0 as unit_price, 0.0 as discount
                        from range({orders}) t(i)) to '{folder}/order_items.parquet'""")
    con.execute(f"""copy (select i as review_id, hash(i) % {customers} as customer_id, hash(i) % 200 as product_id,
                        1 + hash(i) % 5 as rating, 'great product, fast delivery' as review_text,
                        timestamp '2024-01-01' + to_seconds(hash(i * 5) % {SPAN_SECONDS}) as reviewed_at
                        from range({max(orders // 10, 10)}) t(i)) to '{folder}/reviews.parquet'""")
    # Sessions of six events (4 views, a cart, a purchase) spread over two years.
    con.execute(f"""copy (select i as event_id, i // 6 as session_id, hash(i // 6) % {customers} as customer_id,
                        case when i % 6 < 4 then 'product_view' when i % 6 = 4 then 'add_to_cart' else 'purchase' end
                            as event_type,
                        case when i % 6 < 5 then hash(i) % 200 end as product_id,
                        timestamp '2024-01-01' + to_seconds(hash(i // 6 * 13) % {SPAN_SECONDS} + (i % 6) * 30)
                            as occurred_at
                        from range({events}) t(i)) to '{folder}/events.parquet' (row_group_size 1000000)""")
    con.close()
    shutil.rmtree(folder / "tmp", ignore_errors=True)


def measure(command: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak resident bytes of the command's whole process tree."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    root, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.1)
    elapsed = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed: {process.stderr.read()[-3000:]}")
    return elapsed, peak


def warm_parse_cache(env: dict[str, str]) -> None:
    """`dbt parse` as of the day before, leaving the parse cache yesterday's scheduled run would."""
    parse = ("from datetime import date; from ml import settings; from ml.data import dbt_runner; "
             f"dbt_runner.run_dbt(['parse'], date.fromisoformat('{AS_OF - timedelta(days=1)}'), settings.load())"
             ".check_returncode()")
    subprocess.run([sys.executable, "-c", parse], env=env, check=True)


def profile_settings() -> list[str]:
    """dbt's DuckDB settings (profiles.yml) as SET statements, so both sides run the same engine."""
    profile = yaml.safe_load(PROFILE.read_text())["clm"]["outputs"]["duckdb"]
    return [f"set {key} = '{value}'" for key, value in profile["settings"].items()]


def slowest_nodes(run_results: Path, count: int = 5) -> str:
    """Where dbt's time went: its slowest models and tests, from the run's run_results.json."""
    results = sorted(json.loads(run_results.read_text())["results"], key=lambda r: -r["execution_time"])
    return ", ".join(f"{r['unique_id'].split('.')[2]} {r['execution_time']:.1f} s" for r in results[:count])


def build_command(selector: str = SELECTOR) -> list[str]:
    """The pipeline's own dbt build of `selector`, in a process of its own."""
    return [sys.executable, "-c", "from datetime import date; from ml import settings; from ml.data import dbt_runner; "
            f"dbt_runner.build({selector!r}, date.fromisoformat('{AS_OF}'), settings.load())"]


def hand_command(home: Path, hand_db: Path) -> list[str]:
    """The hand-written query over the landed files of `home`, into `hand_db`, with dbt's settings."""
    query = HAND_QUERY.format(raw=home / "raw", cutoffs=json.dumps(list(CUTOFFS)).replace('"', "'"))
    return [sys.executable, "-c", f"import duckdb; con = duckdb.connect('{hand_db}'); "
            f"[con.execute(s) for s in {profile_settings()!r}]; con.execute({query!r}); con.close()"]


def run_size(events: int, work: Path, repeats: int) -> dict:
    """Both sides `repeats` times, alternating, on one landed shop; the median time of each."""
    home = work / f"home_{events}"
    source = work / f"shop_{events}"
    write_shop(source, events)
    # The hand query computes the scoring date and three cutoffs: dbt is held to the same.
    env = {**os.environ, "CLM_HOME": str(home), "HF_HUB_OFFLINE": "1", "CLM_TRAINING_CUTOFFS": str(len(CUTOFFS) - 1)}
    clm = str(Path(sys.executable).with_name("clm"))
    subprocess.run([clm, "ingest", "folder", str(source)], env=env, check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(source)
    warm_parse_cache(env)
    build = build_command()
    hand_db = work / f"hand_{events}.duckdb"
    hand = hand_command(home, hand_db)
    dbt_runs, hand_runs = [], []
    for _ in range(repeats):
        # Every build starts from an empty warehouse, with the parse cache kept.
        (home / "warehouse.duckdb").unlink(missing_ok=True)
        hand_db.unlink(missing_ok=True)
        dbt_runs.append(measure(build, env))
        hand_runs.append(measure(hand, env))
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("select count(*) from build.customer_features").fetchone()[0]
    slowest = slowest_nodes(home / "dbt" / "target" / "run_results.json")
    shutil.rmtree(home)
    hand_db.unlink(missing_ok=True)
    dbt_times, hand_times = [t for t, _ in dbt_runs], [t for t, _ in hand_runs]
    return {"events": events, "customers": rows,
            "dbt_s": statistics.median(dbt_times), "hand_s": statistics.median(hand_times),
            "dbt_range": (min(dbt_times), max(dbt_times)), "hand_range": (min(hand_times), max(hand_times)),
            "dbt_peak_gb": max(p for _, p in dbt_runs) / 2**30, "hand_peak_gb": max(p for _, p in hand_runs) / 2**30,
            "slowest": slowest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1e6,1e7,1e8", help="comma-separated event counts")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each side per size (median)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="clm-bench-"))
    print(f"{'events':>12} {'customers':>10} {'dbt s':>8} {'hand s':>8} {'ratio':>6} "
          f"{'dbt ev/s':>12} {'hand ev/s':>12} {'dbt peak GB':>12} {'hand peak GB':>13}", flush=True)
    results = []
    for size in (int(float(s)) for s in args.sizes.split(",")):
        r = run_size(size, work, args.repeats)
        results.append(r)
        print(f"{r['events']:>12,} {r['customers']:>10,} {r['dbt_s']:>8.1f} {r['hand_s']:>8.1f} "
              f"{r['dbt_s'] / r['hand_s']:>6.2f} {r['events'] / r['dbt_s']:>12,.0f} {r['events'] / r['hand_s']:>12,.0f} "
              f"{r['dbt_peak_gb']:>12.2f} {r['hand_peak_gb']:>13.2f}", flush=True)
        print(f"{'':>12} {args.repeats} runs each: dbt {r['dbt_range'][0]:.1f}-{r['dbt_range'][1]:.1f} s, "
              f"hand {r['hand_range'][0]:.1f}-{r['hand_range'][1]:.1f} s (medians above)", flush=True)
        print(f"{'':>12} slowest in dbt (last run): {r['slowest']}", flush=True)
    notes = [f"Medians of {args.repeats} alternating runs of each side per size; dbt's parse cache warm.", ""]
    notes += [f"- {r['events']:,} events, dbt's slowest steps (last run): {r['slowest']}" for r in results]
    if len(results) > 1:
        first, last = results[0], results[-1]
        growth = (last["dbt_s"] / first["dbt_s"]) / (last["events"] / first["events"])
        scaling = (f"scaling: {last['events'] / first['events']:.0f}x the events took "
                   f"{last['dbt_s'] / first['dbt_s']:.1f}x the dbt time (1.0 = linear per event: {growth:.2f})")
        print(scaling)
        notes += ["", scaling[0].upper() + scaling[1:] + "."]
    report.write("features", "Feature build: dbt against a hand-written DuckDB query", report.table([
        {"events": r["events"], "customers": r["customers"], "dbt s": r["dbt_s"],
         "dbt range s": f"{r['dbt_range'][0]:.1f}-{r['dbt_range'][1]:.1f}", "hand s": r["hand_s"],
         "hand range s": f"{r['hand_range'][0]:.1f}-{r['hand_range'][1]:.1f}", "dbt / hand": r["dbt_s"] / r["hand_s"],
         "dbt events/s": round(r["events"] / r["dbt_s"]), "dbt peak GB": r["dbt_peak_gb"],
         "hand peak GB": r["hand_peak_gb"]} for r in results]), "\n".join(notes))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
