"""Which DuckDB clients read the analysts' database: the versions a BI tool may bundle, tried on
a file written the way the pipeline writes it.

BI tools do not use the project's DuckDB (duckdb==2.0.0 in pyproject.toml): Metabase's driver,
Superset's duckdb-engine, Evidence's connector and DBeaver each bring a client of their own,
often a release or two behind. The publish step writes the analysts' file in the storage
format of ml/data/warehouse.ANALYSTS_STORAGE_VERSION so that those clients can open it; this
bench checks that promise with the clients themselves rather than with DuckDB's notes.

It publishes a small analysts' file with the pipeline's own `DuckDBWarehouse.publish` (two
tables with every column type the published tables use: VARCHAR, DOUBLE, BIGINT, DATE,
TIMESTAMP, BOOLEAN; enough rows for several row groups), then for each client version makes a
virtualenv (kept under --cache, so a second run installs nothing), installs `duckdb==<version>`
from the package index, opens the file read-only in a fresh process and runs a query that
counts rows and reads the DATE, TIMESTAMP and BOOLEAN columns. One more virtualenv holds
`duckdb-engine` (Superset's SQLAlchemy dialect) and opens the file through the URI Superset is
given, `duckdb:////<abs path>?access_mode=read_only`, and tries a write there, which must fail.

Last, with the project's client, what a reader holding the file open sees when a run renames a
new file over it: the held connection, a second connection opened in the same process while the
first is still open, and a connection opened after both are closed.

    python bench/bi_clients.py                         # 1.3.2 1.4.0 1.4.5 1.5.0 1.5.6
    python bench/bi_clients.py --versions 1.4.4,1.5.5  # what a given driver release bundles
    python bench/bi_clients.py --file .clm/analytics.duckdb   # a real analysts' file instead

Writes docs/benchmarks/bi_clients.md (bench/report.py); docs/bi-tools.md quotes the table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb
import report

from ml.data.warehouse import ANALYSTS_STORAGE_VERSION, BUILD, DuckDBWarehouse

# 1.3.x: the last series before the v1.4 storage format, to show the failure an old driver gives;
# then the first and the latest 1.4 and 1.5 releases on PyPI.
VERSIONS = ("1.3.2", "1.4.0", "1.4.5", "1.5.0", "1.5.6")
# The client Superset's row uses with duckdb-engine.
ENGINE_CLIENT = "1.4.5"
AS_OF = date(2026, 1, 1)
ROWS = 300_000  # a few row groups of 122,880 rows each
# Run by each client in its own process; prints one JSON line.
READER = """
import json, sys
import duckdb
path = sys.argv[1]
try:
    con = duckdb.connect(path, read_only=True)
    rows, as_of, scored_at = con.execute(
        "select count(*), max(as_of), max(scored_at) from customer_scores").fetchone()
    treated = con.execute("select count(*) filter (where treated) from next_best_action").fetchone()[0]
    try:
        con.execute("create table scratch as select 1")
        write = "allowed"
    except Exception as error:
        write = "refused: " + str(error).strip().splitlines()[0]
    print(json.dumps({"client": duckdb.__version__, "ok": True, "rows": rows, "as_of": str(as_of),
                      "scored_at": str(scored_at), "treated": treated, "write": write}))
except Exception as error:
    print(json.dumps({"client": duckdb.__version__, "ok": False, "error": str(error).strip().splitlines()[0]}))
"""
# Superset's path: SQLAlchemy with duckdb-engine, the read-only flag in the URI's query.
ENGINE_READER = """
import json, sys
import duckdb, duckdb_engine, sqlalchemy
uri = "duckdb:///" + sys.argv[1] + "?access_mode=read_only"
result = {"client": f"{duckdb.__version__} + duckdb-engine {duckdb_engine.__version__}"}
try:
    with sqlalchemy.create_engine(uri).connect() as con:
        rows, as_of, scored_at = con.execute(sqlalchemy.text(
            "select count(*), max(as_of), max(scored_at) from customer_scores")).one()
        treated = con.execute(sqlalchemy.text(
            "select count(*) filter (where treated) from next_best_action")).scalar()
        tables = sorted(sqlalchemy.inspect(con).get_table_names())
        try:
            con.execute(sqlalchemy.text("create table scratch as select 1"))
            write = "allowed"
        except Exception as error:
            # SQLAlchemy puts the DBAPI's class in front: "(_duckdb.InvalidInputException) ..."
            write = "refused: " + str(error.orig if hasattr(error, "orig") else error).strip().splitlines()[0]
    result.update(ok=True, rows=rows, as_of=str(as_of), scored_at=str(scored_at), treated=treated,
                  tables=tables, write=write)
except Exception as error:
    result.update(ok=False, error=str(error).strip().splitlines()[0])
print(json.dumps(result))
"""


def publish(work: Path, scored_at: str) -> Path:
    """An analysts' file written by the pipeline's publish step: customer_scores and
    next_best_action in the working warehouse's build schema, then `publish` (storage version,
    checkpoint, the atomic rename) into work/analytics.duckdb."""
    work.mkdir(parents=True, exist_ok=True)
    warehouse = DuckDBWarehouse(work / "warehouse.duckdb", work / "analytics.duckdb")
    with duckdb.connect(str(warehouse.path)) as con:
        con.execute(f"create schema if not exists {BUILD}")
        con.execute(f"""
            create or replace table {BUILD}.customer_scores as
            select cast(i as varchar) as customer_id, date '{AS_OF}' as as_of,
                   (i % 997) / 997.0 as churn_probability, cast(i % 7 as bigint) as expected_orders,
                   cast(90 as bigint) as horizon_days, ['low', 'mid', 'high'][1 + i % 3] as value_tier,
                   'clm_churn' as model_name, timestamp '{scored_at}' as scored_at
            from range({ROWS}) t(i)""")
        con.execute(f"""
            create or replace table {BUILD}.next_best_action as
            select cast(i as varchar) as customer_id, date '{AS_OF}' as as_of,
                   ['call', 'voucher', 'nothing'][1 + i % 3] as action, (i % 5) * 1.5 as cost,
                   i % 10 <> 0 as treated, i % 10 = 0 as in_holdout
            from range({ROWS}) t(i)""")
    warehouse.publish(AS_OF, ["customer_scores", "next_best_action"])
    return warehouse.analysts


def client_python(version: str, cache: Path, extra: tuple[str, ...] = ()) -> Path:
    """A virtualenv with duckdb==version (and `extra`), made once under `cache`."""
    name = "-".join([f"duckdb-{version}", *(package.split("==")[0] for package in extra)])
    venv = cache / name
    python = venv / "bin" / "python"
    if not (venv / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        installed = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                                    f"duckdb=={version}", *extra], capture_output=True, text=True)
        if installed.returncode != 0:
            raise SystemExit(f"pip could not install duckdb=={version} {' '.join(extra)}:\n{installed.stderr}")
        (venv / ".installed").touch()
    return python


def read_with(python: Path, script: str, path: Path) -> dict:
    done = subprocess.run([str(python), "-c", script, str(path)], capture_output=True, text=True, timeout=300)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"ok": False, "error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(lines[-1])


def row(client: str, seen: dict) -> dict:
    """A client's line of the table: what it read, whether a write was refused, or its error."""
    read = seen["ok"]
    return {"client": client, "reads it?": "yes" if read else "no",
            "customer_scores rows": seen["rows"] if read else None, "max(as_of)": seen.get("as_of"),
            "max(scored_at)": seen.get("scored_at"), "treated rows": seen["treated"] if read else None,
            "a write": seen.get("write", "").split(":")[0] if read else None,
            "error (first line)": seen.get("error", "")}


def swap(work: Path) -> list[dict]:
    """What a reader sees across a publish, with the project's client in this process."""
    analysts = publish(work, "2026-01-01 06:00:00")
    query = "select max(scored_at) from customer_scores"
    held = duckdb.connect(str(analysts), read_only=True)
    publish(work, "2026-01-02 06:00:00")
    second = duckdb.connect(str(analysts), read_only=True)
    seen = [{"reader": "held open across the publish", "reads the run of": held.execute(query).fetchone()[0]},
            {"reader": "connected after the publish, first still open", "reads the run of": second.execute(query).fetchone()[0]}]
    held.close()
    second.close()
    with duckdb.connect(str(analysts), read_only=True) as fresh:
        seen.append({"reader": "connected after both closed", "reads the run of": fresh.execute(query).fetchone()[0]})
    return [{**item, "reads the run of": str(item["reads the run of"])} for item in seen]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", default=",".join(VERSIONS), help="DuckDB client versions, comma-separated")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "clm-bench" / "duckdb-clients",
                        help="where the clients' virtualenvs are kept between runs")
    parser.add_argument("--file", type=Path, help="an analysts' file to read instead of a freshly published one")
    parser.add_argument("--no-engine", action="store_true", help="skip the duckdb-engine (Superset) row")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path = args.file.resolve() if args.file else publish(work / "bi", "2026-01-01 06:00:00")
        written = (f"an analysts' file given with --file ({path.stat().st_size / 1e6:.1f} MB)" if args.file else
                   f"written by duckdb {duckdb.__version__} through `DuckDBWarehouse.publish` in storage format "
                   f"{ANALYSTS_STORAGE_VERSION} ({ROWS:,} rows in each of two tables)")
        print(f"file: {written}")
        rows, writes = [], []
        for version in [v.strip() for v in args.versions.split(",") if v.strip()]:
            seen = read_with(client_python(version, args.cache), READER, path)
            rows.append(row(f"duckdb {version}", seen))
            writes.append(seen.get("write"))
            print(seen)
        if not args.no_engine:
            engine = read_with(client_python(ENGINE_CLIENT, args.cache, ("duckdb-engine",)), ENGINE_READER, path)
            rows.append(row(f"duckdb {engine.get('client', ENGINE_CLIENT)}, SQLAlchemy URI", engine))
            writes.append(engine.get("write"))
            print(engine)
        swapped = swap(work / "swap")

    clients = report.table(rows)
    readers = report.table(swapped)
    print()
    print(clients)
    print()
    print(readers)
    print(f"\n{time.monotonic() - started:.0f} s")
    report.write("bi_clients", "DuckDB clients reading the analysts' database", clients + "\n\n" + readers,
                 notes=f"The file: {written}. Each client ran in "
                       "its own virtualenv and process, opening the file read-only; \"a write\" is a "
                       f"`create table` in that connection (the first answer: `{next(filter(None, writes), '')}`). "
                       "The second table: the "
                       "project's client in one process, the file replaced by a second publish (scored_at "
                       "2026-01-02) while the first connection was open. See docs/bi-tools.md.")


if __name__ == "__main__":
    main()
