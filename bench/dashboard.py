"""Dashboard benchmark: how long each page of `clm dashboard` takes to load, at the demo shop's
size and at a million customers.

For each size an analysts' database is generated with the published tables' columns and a
shop's proportions: two scoring dates a week apart (customer_scores and next_best_action hold
both, customer_segments the newest), a churn alert list of 100 a date, 5 recommendations and
about one review per customer, eight weeks of three campaigns' effects, two training runs of
three candidates with their calibration and gain curves (model_evaluation, model_curves).
Each page is timed twice, as a page opened for the first time after a run's swap (its queries not cached), the best of `--repeats`:

* `script`: the page's script as `streamlit run` runs it (Streamlit's AppTest, in this process),
  from its start to the last element, its queries included;
* `browser`: `clm dashboard`'s server and headless Chromium (Playwright, Debian's chromium:
  `make browser`; left out without it), from the address entered to the page drawn whole.

    python bench/dashboard.py                        # 2,000 and 1,000,000 customers
    python bench/dashboard.py --customers 2000       # a quick look

Writes docs/benchmarks/dashboard.md (bench/report.py).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import duckdb
import report
import streamlit as st
from streamlit.testing.v1 import AppTest

from ml.dashboard import server

APP = str(Path(__file__).resolve().parents[1] / "ml" / "dashboard" / "app.py")
PAGES = {"Overview": None, "Churn alerts": "pages/churn_alerts.py", "Actions and campaigns": "pages/actions.py",
         "Customer": "pages/customer.py", "Model": "pages/model.py"}
GOALS = {2000: 2.0, 1_000_000: 5.0}
DATES = ("2026-01-01", "2026-01-08")
SEGMENTS = ["champions", "loyal customers", "potential loyalists", "new customers", "promising", "need attention",
            "about to sleep", "at risk", "cannot lose them", "hibernating", "lost"]
STAGES = ["new", "active", "loyal", "at risk", "churned", "reactivated"]
ACTIONS = ["no action", "win-back coupon", "loyalty reward", "personal call", "reactivation email"]
REASONS = ["no order for a long time", "fewer orders than before", "spend falling", "negative reviews",
           "sessions falling", "coupons stopped"]


def pick(options: list[str], seed: str) -> str:
    """A SQL expression choosing one of `options` per row from a hash of `seed`."""
    return "list_value(" + ", ".join(f"'{o}'" for o in options) + f")[(hash({seed}) % {len(options)})::bigint + 1]"


def generate(path: Path, customers: int) -> None:
    """An analysts' database of `customers` customers (see the module's docstring)."""
    with duckdb.connect(str(path)) as con:
        con.execute(f"""create table people as
            select 'c' || lpad(i::varchar, 8, '0') as customer_id, (hash(i) % 1000)::bigint / 1000.0 as u
            from range({customers}) t(i)""")
        scores = []
        for day, as_of in enumerate(DATES):
            scores.append(f"""select customer_id, timestamp '{as_of}' as as_of,
                least(0.99, u * 0.9 + (hash(customer_id || '{as_of}') % 100) / 1000.0) as churn_probability,
                (1 - u) * 3 as expected_orders, (1 - u) * 120 as expected_spend,
                {pick(['low', 'medium', 'high'], 'customer_id')} as value_tier, 0.2 as review_sentiment,
                date '{as_of}' + 30 as expected_next_order_date, 90 as horizon_days, 'clm-customer-model' as model_name,
                {day + 1} as model_version, 'transformer' as model_family, timestamp '{as_of}' as scored_at,
                {pick(REASONS, 'customer_id')} as churn_reason_1, {pick(REASONS, "customer_id || 'b'")} as churn_reason_2,
                {pick(REASONS, "customer_id || 'c'")} as churn_reason_3 from people""")
        con.execute("create table customer_scores as " + " union all ".join(scores))
        con.execute(f"""create table next_best_action as
            select customer_id, as_of::date as as_of,
                case when churn_probability >= 0.8 then 'high' when churn_probability >= 0.5 then 'medium' else 'low' end
                    as risk_band, value_tier,
                {pick(SEGMENTS, "customer_id || as_of::varchar")} as rfm_segment, '*' as rule_segment,
                {pick(ACTIONS, 'customer_id')} as action, {pick(ACTIONS, 'customer_id')} as campaign,
                hash(customer_id) % 10 = 0 as in_holdout, hash(customer_id) % 10 <> 0 as treated,
                (hash(customer_id) % 5) * 1.0 as cost, churn_probability, expected_spend,
                churn_probability * expected_spend as value_at_stake, model_version
            from customer_scores""")
        con.execute(f"""create table customer_segments as
            select s.customer_id, date '{DATES[-1]}' as as_of, (hash(s.customer_id) % 400)::bigint as recency_days,
                (hash(s.customer_id) % 20)::bigint as frequency, (hash(s.customer_id) % 2000) * 1.0 as monetary,
                1 as r_score, 1 as f_score, 1 as m_score, n.rfm_segment, {pick(STAGES, 's.customer_id')} as lifecycle_stage,
                s.value_tier as historic_value_tier, 'neutral' as review_sentiment_segment, s.value_tier,
                s.churn_probability, s.expected_orders, s.expected_spend, s.expected_next_order_date, s.model_name,
                s.model_version, s.model_family
            from customer_scores s join next_best_action n on n.customer_id = s.customer_id and n.as_of = s.as_of::date
            where s.as_of = timestamp '{DATES[-1]}'""")
        con.execute("""create table churn_alerts as
            select row_number() over (partition by as_of order by churn_probability * expected_spend desc, customer_id)
                       as alert_rank, customer_id, as_of, 'threshold' as alert_trigger, churn_probability,
                   null::double as previous_churn_probability, null::timestamp as previous_as_of, null::double as churn_rise,
                   0.5 as alert_threshold, 0.1 as alert_rise, expected_spend, expected_next_order_date,
                   churn_probability * expected_spend as value_at_stake, value_tier, 'at risk' as rfm_segment,
                   'at risk' as lifecycle_stage, churn_reason_1, churn_reason_2, churn_reason_3, model_name, model_version,
                   model_family
            from customer_scores qualify alert_rank <= 100""")
        con.execute(f"""create table recommendations as
            select customer_id, 'p' || ((hash(customer_id) + r) % 5000)::varchar as product_id,
                   'product ' || ((hash(customer_id) + r) % 5000)::varchar as product_name,
                   {pick(['books', 'garden', 'kitchen', 'toys'], 'customer_id')} as category, r as rank,
                   1.0 / r as score, 'neighbours' as source, date '{DATES[-1]}' as as_of
            from people cross join range(1, 6) t(r)""")
        con.execute("""create table review_sentiment as
            select 'r' || customer_id as review_id, customer_id, 'p1' as product_id, 'o1' as order_id,
                   timestamp '2025-12-01' as reviewed_at, (hash(customer_id) % 5 + 1)::double as rating,
                   'positive' as star_sentiment, 'good value, fast delivery' as review_text,
                   'positive' as sentiment_label, 0.8 as sentiment, 'classifier' as sentiment_source,
                   1 as sentiment_model_version, 'positive' as lexicon_label, 0.5 as lexicon_sentiment
            from people""")
        con.execute(f"""create table campaign_effect as
            select campaign, date '{DATES[0]}' - (7 * w)::integer as as_of, 30 as horizon_days, 1000 as treated_customers,
                   100 as holdout_customers, 0.3 as treated_orders, 0.2 as holdout_orders, 0.1 as orders_effect,
                   0.02 as orders_effect_low, 0.18 as orders_effect_high, 30.0 as treated_spend, 25.0 as holdout_spend,
                   5.0 as spend_effect, -1.0 as spend_effect_low, 11.0 as spend_effect_high
            from (select unnest({ACTIONS[1:4]}) as campaign) cross join range(8) t(w)""")
        con.execute(f"""create table model_evaluation as
            select timestamp '{DATES[0]}' - interval (7 * run) day as trained_at, 'run' || run || family as run_id,
                   'clm-customer-model' as model_name, family as model_family, (run * 3 + f + 1)::bigint as model_version,
                   f = 0 as promoted, date '{DATES[0]}' - 90 as holdout_as_of, 3 as holdout_cutoffs,
                   {customers * 3}::bigint as holdout_rows, 0.8 - f / 20 as roc_auc, 0.7 - f / 20 as pr_auc,
                   0.15 as brier, 0.02 as ece, 2.5 as lift_top10, 0.5 as churn_rate, 0.5 as mean_probability,
                   0.6 as spend_spearman, 0.5 as spend_gini, 0.2 as spend_decile_mape, 0.05 as spend_aggregate_error,
                   0.8 as orders_mae, 0.6 as orders_pearson, 1.1 as orders_poisson_deviance,
                   0.05 as orders_aggregate_error, 0.6 as tier_macro_f1, null::double as sentiment_macro_f1
            from range(2) r(run) cross join (select unnest(['transformer', 'lightgbm', 'bg_nbd']) as family,
                                                    generate_subscripts(['transformer', 'lightgbm', 'bg_nbd'], 1) - 1 as f)""")
        con.execute("""create table model_curves as
            select trained_at, run_id, model_family, model_version, curve, point, point / 20 as x,
                   case when curve = 'calibration' then point / 20 else sqrt(point / 20) end as y
            from model_evaluation cross join (select unnest(['calibration', 'cumulative_gain']) as curve)
            cross join range(21) p(point)""")
        con.execute("drop table people")


def load_seconds(database: Path, page: str | None, repeats: int) -> float:
    """The best of `repeats` first loads of a page (an empty cache each time)."""
    os.environ["CLM_ANALYTICS_DB"] = str(database)
    best = float("inf")
    for _ in range(repeats):
        st.cache_data.clear()
        app = AppTest.from_file(APP, default_timeout=120)
        if page is None:
            start = time.perf_counter()
            app.run()
        else:
            app.run()  # the overview first, as a person arrives; the page's own load is timed
            st.cache_data.clear()
            start = time.perf_counter()
            app.switch_page(page).run()
        best = min(best, time.perf_counter() - start)
        if app.exception or not app.title:
            raise RuntimeError(f"{page or 'the overview'} failed: {app.exception}")
        if app.info:
            raise RuntimeError(f"{page or 'the overview'} showed a note instead of data: {app.info[0].value}")
    return best


@contextlib.contextmanager
def dashboard(database: Path, port: int = 8599):
    """`clm dashboard`'s server on `database`, up; its address."""
    process = subprocess.Popen(server.command(port), env={**os.environ, "CLM_ANALYTICS_DB": str(database)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(server.health_url(port), timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the dashboard's server did not start within a minute") from None
                time.sleep(0.5)
        yield server.url(port)
    finally:
        process.terminate()
        process.wait(timeout=30)


def browser_seconds(database: Path, repeats: int) -> dict[str, float]:
    """Each page's best of `repeats` loads in headless Chromium, from the address entered until
    Streamlit has drawn all of it; the file's mtime is touched before each load, so the queries
    run again as after a run's swap."""
    from playwright.sync_api import sync_playwright

    best = dict.fromkeys(PAGES, float("inf"))
    with dashboard(database) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)  # the server's first session: Streamlit imports the app's modules
        page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(timeout=120_000)
        for _ in range(repeats):
            for name, path in PAGES.items():
                database.touch()
                start = time.perf_counter()
                page.goto(f"{url}/{Path(path).stem if path else ''}")
                page.locator("h1").first.wait_for(timeout=120_000)
                page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(timeout=120_000)
                best[name] = min(best[name], time.perf_counter() - start)
        browser.close()
    return best


def main() -> None:
    logging.getLogger("streamlit").setLevel(logging.ERROR)  # AppTest's notes on running without a server
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, nargs="+", default=list(GOALS))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = {name: {"page": name} for name in PAGES}
    with tempfile.TemporaryDirectory() as folder:
        for customers in args.customers:
            database = Path(folder) / f"analytics_{customers}.duckdb"
            start = time.perf_counter()
            generate(database, customers)
            print(f"generated {customers:,} customers in {time.perf_counter() - start:.1f} s "
                  f"({database.stat().st_size / 2**20:,.0f} MiB)", flush=True)
            for name, page in PAGES.items():
                seconds = load_seconds(database, page, args.repeats)
                rows[name][f"{customers:,}: script (s)"] = seconds
                print(f"{name}: {seconds:.2f} s at {customers:,} customers (script)", flush=True)
            if shutil.which("chromium"):
                for name, seconds in browser_seconds(database, args.repeats).items():
                    rows[name][f"{customers:,}: browser (s)"] = seconds
                    print(f"{name}: {seconds:.2f} s at {customers:,} customers (browser)", flush=True)
    goals = ", ".join(f"under {goal:g} s at {size:,}" for size, goal in GOALS.items())
    body = report.table(list(rows.values()))
    print(body)
    report.write("dashboard", "Dashboard: page load times", body,
                 f"Goal: {goals} customers. Each page is its first load after a run's swap (its queries not "
                 f"cached), the best of {args.repeats}: `script` runs the page's script in this process "
                 "(Streamlit's AppTest), `browser` opens it in headless Chromium from `clm dashboard`'s server "
                 "until it is drawn whole.")


if __name__ == "__main__":
    main()
