"""The dashboard's pages as Streamlit runs them (AppTest runs app.py and its pages in-process,
as `streamlit run` would for a browser): on analysts' databases a real run published, the
numbers shown equal the SQL an analyst would write; a file that cannot be shown says so in one
sentence; and a run publishing mid-visit never shows an error page. The pages in a real
browser: tests/test_ui.py."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from ml.dashboard import queries
from tests.conftest import clm, clm_env

APP = str(Path(__file__).resolve().parents[1] / "ml" / "dashboard" / "app.py")
PAGES = ["pages/overview.py", "pages/churn_alerts.py", "pages/actions.py", "pages/customer.py", "pages/model.py"]


def opened(database: Path, monkeypatch, page: str = PAGES[0]) -> AppTest:
    """The app on `database`, on one page, after its first run."""
    monkeypatch.setenv("CLM_ANALYTICS_DB", str(database))
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    if page != PAGES[0]:
        app.switch_page(page).run()
    return app


def sql(database: Path, query: str, params: list | None = None) -> pd.DataFrame:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(query, params or []).df()


def shown(app: AppTest) -> str:
    """Everything the page says in words: titles, captions, text, notes, metrics."""
    parts = [e.value for kind in ("title", "subheader", "caption", "markdown", "info") for e in getattr(app, kind)]
    return "\n".join([*parts, *(f"{m.label}: {m.value}" for m in app.metric)])


def test_a_database_it_cannot_show_gets_one_sentence_on_every_page(tmp_path, monkeypatch):
    foreign = tmp_path / "notes.duckdb"
    foreign.write_text("not a database")
    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("create table invoices as select 1 as id")
    empty = tmp_path / "empty.duckdb"
    with duckdb.connect(str(empty)) as con:
        for table in ("customer_scores", "customer_segments", "churn_alerts", "next_best_action"):
            con.execute(f"create table {table} (customer_id varchar, as_of date, churn_probability double)")
    expected = {tmp_path / "missing.duckdb": "There is no analysts' database at",
                foreign: "could not be opened as the analysts' DuckDB database",
                other: "is not a clm analysts' database (it has no table customer_scores",
                empty: "No run has published yet: run `clm run`"}
    for database, sentence in expected.items():
        for page in PAGES:
            app = opened(database, monkeypatch, page)
            assert not app.exception, (database, page, app.exception)
            assert len(app.info) == 1 and sentence in app.info[0].value, (database, page, shown(app))
            assert "Traceback" not in shown(app)


def scored(database: Path, as_of: str) -> None:
    """A file with the tables the dashboard requires, one customer scored on `as_of`."""
    with duckdb.connect(str(database)) as con:
        for table in ("customer_scores", "customer_segments", "churn_alerts", "next_best_action"):
            con.execute(f"create table {table} as select '1' as customer_id, date '{as_of}' as as_of")


def test_a_query_after_a_swap_reads_the_new_file_while_another_reads_the_old(tmp_path):
    # Two sessions of one server: one still reads the run before when a run swaps its file in.
    database, new = tmp_path / "analytics.duckdb", tmp_path / "new.duckdb"
    scored(database, "2026-01-01")
    scored(new, "2026-01-08")
    slow = threading.Thread(target=queries.read, args=(database, "select sum(hash(range)) from range(400000000)"))
    slow.start()
    time.sleep(0.3)
    assert slow.is_alive()
    os.replace(new, database)
    assert queries.latest_date(database) == date(2026, 1, 8)
    slow.join()


@pytest.fixture(scope="module")
def two_days(pipeline_home, tmp_path_factory) -> Path:
    """The analysts' database after two real daily runs a week apart (pipeline_home's, then
    2026-01-08's), so segments have moved and customers have a history."""
    home = tmp_path_factory.mktemp("dashboard") / "home"
    shutil.copytree(pipeline_home, home)
    clm(home, "run", "--as-of", "2026-01-08")
    return home / "analytics.duckdb"


@pytest.mark.slow
def test_overview_shows_the_sql_of_the_newest_date(two_days, monkeypatch):
    app = opened(two_days, monkeypatch)
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    customers = sql(two_days, "select count(*) as n from customer_scores where as_of::date = '2026-01-08'")["n"][0]
    assert metrics["Customers scored"] == f"{customers:,}"
    high = sql(two_days, "select avg((risk_band = 'high')::int) as share from next_best_action where as_of = '2026-01-08'")
    assert metrics["Share at risk (risk band high)"] == f"{high['share'][0]:.1%}"
    mean = sql(two_days, "select avg(churn_probability) as p from customer_scores where as_of::date = '2026-01-08'")
    assert metrics["Mean churn probability"] == f"{mean['p'][0]:.1%}"
    alerts = sql(two_days, "select count(*) as n, sum(value_at_stake) as v from churn_alerts where as_of::date = '2026-01-08'")
    assert metrics[f"Value at stake ({alerts['n'][0]:,} alerts)"] == f"{alerts['v'][0]:,.0f}"
    # Moves: customers by their segment on each date, from next_best_action's history.
    moves = sql(two_days, """select b.rfm_segment as previous_segment, a.rfm_segment as segment, count(*) as customers
        from next_best_action a join next_best_action b using (customer_id)
        where a.as_of = '2026-01-08' and b.as_of = '2026-01-01' group by all""")
    table = app.dataframe[0].value
    for row in moves.itertuples():
        assert table.loc[row.previous_segment, row.segment] == row.customers
    assert table.to_numpy().sum() == customers
    assert "on 2026-01-01 (rows) and on 2026-01-08 (columns)" in shown(app)


@pytest.mark.slow
def test_the_alert_list_is_the_sql_filtered_and_paged(two_days, monkeypatch):
    app = opened(two_days, monkeypatch, "pages/churn_alerts.py")
    assert not app.exception
    everyone = sql(two_days, """select a.alert_rank, a.customer_id, coalesce(a.rfm_segment, 'no orders yet') as rfm_segment,
        a.value_tier, n.action, a.churn_reason_1
        from churn_alerts a left join next_best_action n on n.customer_id = a.customer_id and n.as_of = a.as_of::date
        where a.as_of::date = '2026-01-08' order by a.alert_rank""")
    assert f"{len(everyone):,} customers to call on 2026-01-08" in shown(app)
    table = app.table[0].value
    assert list(table["alert_rank"]) == list(everyone["alert_rank"][:50])
    assert list(table["customer_id"]) == list(everyone["customer_id"][:50])
    assert list(table["churn_reason_1"]) == list(everyone["churn_reason_1"][:50])
    # A filter on the most common segment and action: the count and the rows are the SQL's.
    segment, action = everyone["rfm_segment"].mode()[0], everyone["action"].mode()[0]
    app.multiselect[0].set_value([segment])
    app.multiselect[2].set_value([action]).run()
    chosen = everyone[(everyone["rfm_segment"] == segment) & (everyone["action"] == action)]
    assert f"{len(chosen):,} customers to call" in shown(app)
    assert list(app.table[0].value["customer_id"]) == list(chosen["customer_id"][:50])


@pytest.mark.slow
def test_the_call_list_pages_and_its_csv_are_the_sql_rows_in_rank_order(two_days):
    # churn_alerts holds the newest date's list; pages of 5 here, of 50 on the page.
    everyone = sql(two_days, "select alert_rank, customer_id from churn_alerts order by alert_rank")
    assert len(everyone) > 5
    second = queries.alerts(two_days, date(2026, 1, 8), queries.Alerts(), limit=5, offset=5)
    assert list(second["alert_rank"]) == list(everyone["alert_rank"][5:10])
    csv = pd.read_csv(io.StringIO(queries.alerts(two_days, date(2026, 1, 8), queries.Alerts(), None).to_csv(index=False)),
                      dtype={"customer_id": str})
    assert list(csv["customer_id"]) == list(everyone["customer_id"])


@pytest.mark.slow
def test_actions_show_customers_cost_and_holdout_per_action(two_days, monkeypatch):
    app = opened(two_days, monkeypatch, "pages/actions.py")
    assert not app.exception
    expected = sql(two_days, """select action, count(*) as customers, count(*) filter (where in_holdout) as held_out,
        avg(in_holdout::int) as holdout_share, sum(cost) as cost, sum(value_at_stake) as value_at_stake
        from next_best_action where as_of = '2026-01-08' group by 1""").set_index("action")
    table = app.table[0].value.set_index("action")
    assert set(table.index) == set(expected.index)
    for action, row in expected.iterrows():
        assert table.loc[action, "customers"] == row["customers"] and table.loc[action, "held_out"] == row["held_out"]
        assert table.loc[action, "cost"] == pytest.approx(row["cost"])
        assert table.loc[action, "holdout_share"] == pytest.approx(row["holdout_share"])
        assert table.loc[action, "value_at_stake"] == pytest.approx(row["value_at_stake"])


@pytest.mark.slow
def test_one_customer_in_words_with_history_reasons_and_recommendations(two_days, monkeypatch):
    app = opened(two_days, monkeypatch, "pages/customer.py")
    assert not app.exception
    top = sql(two_days, "select * from churn_alerts where as_of::date = '2026-01-08' order by alert_rank limit 1").iloc[0]
    assert app.text_input[0].value == top["customer_id"]
    words = shown(app)
    assert f"Customer {top['customer_id']} is in the {top['rfm_segment'] or 'no orders yet'} segment" in words
    assert top["churn_reason_1"] in words and "number 1 on today's call list" in words
    recommended = sql(two_days, """select product_name from recommendations
        where customer_id = ? and as_of = (select max(as_of) from recommendations) order by rank""", [top["customer_id"]])
    assert list(app.dataframe[0].value["product_name"]) == list(recommended["product_name"])
    # Another customer by id; an unknown id is a sentence.
    app.text_input[0].set_value("no-such-customer").run()
    assert "No customer 'no-such-customer'" in shown(app) and not app.exception


@pytest.mark.slow
def test_the_model_page_shows_the_scoring_model_against_its_candidates(two_days, monkeypatch):
    app = opened(two_days, monkeypatch, "pages/model.py")
    assert not app.exception
    version = sql(two_days, "select any_value(model_version) as v from customer_scores where as_of::date = '2026-01-08'")["v"][0]
    expected = sql(two_days, """select model_family, model_version, roc_auc from model_evaluation
        where trained_at = (select max(trained_at) from model_evaluation where model_version = ?)""", [int(version)])
    table = app.table[0].value
    assert sorted(table["model_family"]) == sorted(expected["model_family"]) and len(expected) >= 2
    assert table["scoring"].iloc[0] and table["model_version"].iloc[0] == version  # the scoring model first
    shown_auc = dict(zip(table["model_family"], table["roc_auc"], strict=True))
    assert all(shown_auc[row.model_family] == pytest.approx(row.roc_auc, nan_ok=True) for row in expected.itertuples())
    assert {"Calibration", "Cumulative gain", "Drift of the mean churn probability across scoring dates"} <= \
        {s.value for s in app.subheader}
    dates = sql(two_days, "select distinct as_of::date::varchar as d from customer_scores order by 1")["d"]
    assert list(app.table[1].value["as_of"].astype(str)) == list(dates)


@pytest.mark.slow
def test_a_run_publishing_mid_visit_never_shows_an_error_and_the_next_visit_reads_it(two_days, tmp_path, monkeypatch):
    home = tmp_path / "home"
    shutil.copytree(two_days.parent, home)
    database = home / "analytics.duckdb"
    run = subprocess.Popen([str(Path(sys.executable).with_name("clm")), "run", "--as-of", "2026-01-15"], env=clm_env(home),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    dates, visits = [], 0
    try:
        while run.poll() is None:
            for page in PAGES:  # a person clicking through every page, again and again
                app = opened(database, monkeypatch, page)
                assert not app.exception and not app.error, (page, shown(app))
                if page == PAGES[0]:
                    assert not app.info, shown(app)  # never "no run yet" while a run replaces the file
                    dates.append(app.caption[0].value)
            visits += 1
    finally:
        out = run.communicate()[0]
    assert run.returncode == 0, out[-3000:]
    dates.append(opened(database, monkeypatch).caption[0].value)
    # The visits saw the run before until the swap, then the new one; nothing in between.
    assert dates[0] == "Scoring date 2026-01-08" and dates[-1] == "Scoring date 2026-01-15"
    assert set(dates) == {"Scoring date 2026-01-08", "Scoring date 2026-01-15"}
    assert dates == sorted(dates) and visits >= 3
