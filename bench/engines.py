"""Engines benchmark: the same feature build on DuckDB and on Spark local mode, on one machine.

For each size, the feature bench's shop (bench/features.py: 1 customer per 100 events, 1 order
per 20) is landed once with `clm ingest`; then the pipeline's own `dbt_runner.build` of
`+customer_features` (contract rules on every raw row, staging, the four as-of dates, every
feature and its tests) runs with CLM_ENGINE=duckdb and with CLM_ENGINE=spark, each in its own
process from an empty warehouse, alternating `--repeats` times. Wall seconds and peak resident
memory of the whole process tree (Spark's JVM is a child of the dbt process) are measured;
both hold dbt to the feature bench's three training cutoffs.

Then, on the largest size's two warehouses, the pipeline's `score` step (ml/run/steps.py) scores
every customer of customer_features with one LightGBM champion from one MLflow registry (fitted
on DuckDB's training examples of that shop): on DuckDB through the pandas path (Arrow chunks,
streamed to Parquet), on Spark through `mlflow.pyfunc.spark_udf` partition by partition. Each
runs in its own process; the table gives the step's own rate (from reading the features to the
written scores) and the process's wall time (imports, loading the model, Spark's start).

    python bench/engines.py                  # 1M and 10M events
    python bench/engines.py --sizes 1e6      # a quick look

Writes docs/benchmarks/engines.md (bench/report.py).
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
from pathlib import Path

import report
from features import AS_OF, CUTOFFS, build_command, measure, slowest_nodes, write_shop

ENGINES = ("duckdb", "spark")
# A LightGBM champion of the shop's training examples, registered and promoted by hand.
CHAMPION = """
import tempfile
from pathlib import Path
import mlflow
from ml import settings
from ml.data import warehouse
from ml.models.baselines import GbmModel
from ml.models.clv import with_clv_features
from ml.training import registry, tracking
s = settings.load()
tracking.configure(s)
with warehouse.opened(s) as wh:
    gbm = GbmModel.fit(with_clv_features(wh.read_table("training_examples"), s.horizon_days))
with mlflow.start_run():
    uri = tracking.log_customer_model(gbm.save(Path(tempfile.mkdtemp()) / "gbm"), GbmModel.family)
version = str(mlflow.register_model(uri, s.model_name).version)
mlflow.MlflowClient().set_model_version_tag(s.model_name, version, "family", GbmModel.family)
registry.promote(s.model_name, version, "the engines bench's champion")
"""
SCORE = ("import json; from datetime import date; from ml import settings; from ml.run import steps; "
         f"print(json.dumps(steps.score(date.fromisoformat('{AS_OF}'), settings.load()), default=str))")


def run_size(events: int, work: Path, repeats: int, score: bool) -> tuple[list[dict], list[dict]]:
    """Both engines `repeats` times, alternating, on one landed shop: a row per engine; with
    `score`, the scoring rates on the warehouses built (a row per engine)."""
    source, raw = work / f"shop_{events}", work / f"raw_{events}"
    write_shop(source, events)
    base = {**os.environ, "HF_HUB_OFFLINE": "1", "CLM_TRAINING_CUTOFFS": str(len(CUTOFFS) - 1),
            "CLM_RAW_DIR": str(raw), "CLM_HOME": str(work / "ingest")}
    clm = str(Path(sys.executable).with_name("clm"))
    subprocess.run([clm, "ingest", "folder", str(source)], env=base, check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(source)
    runs: dict[str, list[tuple[float, int]]] = {engine: [] for engine in ENGINES}
    homes = {engine: work / f"home_{engine}_{events}" for engine in ENGINES}
    for _ in range(repeats):
        for engine in ENGINES:
            shutil.rmtree(homes[engine], ignore_errors=True)  # an empty warehouse every time
            runs[engine].append(measure(build_command(), {**base, "CLM_HOME": str(homes[engine]), "CLM_ENGINE": engine}))
    rows = []
    for engine in ENGINES:
        times = [t for t, _ in runs[engine]]
        rows.append({"events": events, "engine": engine, "seconds": statistics.median(times),
                     "range": (min(times), max(times)), "peak_gb": max(p for _, p in runs[engine]) / 2**30,
                     "slowest": slowest_nodes(homes[engine] / "dbt" / "target" / "run_results.json")})
    rates = scoring_rates(events, homes, base, work) if score else []
    for home in homes.values():
        shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(raw, ignore_errors=True)
    return rows, rates


def scoring_rates(events: int, homes: dict[str, Path], base: dict[str, str], work: Path) -> list[dict]:
    """The score step on each engine's customer_features, with one champion: a row per engine."""
    env = {**base, "MLFLOW_TRACKING_URI": f"sqlite:///{work / f'mlflow_{events}.db'}"}
    duck = {**env, "CLM_HOME": str(homes["duckdb"]), "CLM_ENGINE": "duckdb"}
    for command in (build_command("+training_examples"), [sys.executable, "-c", CHAMPION]):
        done = subprocess.run(command, env=duck, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{command[-1][:80]}... failed:\n{done.stderr[-3000:]}")
    rates = []
    for engine in ENGINES:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", SCORE], env={**env, "CLM_HOME": str(homes[engine]), "CLM_ENGINE": engine},
                              check=True, capture_output=True, text=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        rates.append({"events": events, "engine": engine, "customers": result["rows"],
                      "step customers/s": result["customers_per_second"], "process s": time.perf_counter() - started})
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1e6,1e7", help="comma-separated event counts")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of each engine per size (median)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="clm-bench-engines-"))
    print(f"{'events':>12} {'engine':>7} {'seconds':>8} {'events/s':>12} {'peak GB':>8} {'vs duckdb':>9}", flush=True)
    results, rates = [], []
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    for size in sizes:
        rows, scored = run_size(size, work, args.repeats, score=size == max(sizes))
        rates += scored
        duck = rows[0]["seconds"]
        for r in rows:
            r["vs_duckdb"] = r["seconds"] / duck
            print(f"{r['events']:>12,} {r['engine']:>7} {r['seconds']:>8.1f} {r['events'] / r['seconds']:>12,.0f} "
                  f"{r['peak_gb']:>8.2f} {r['vs_duckdb']:>9.2f}", flush=True)
        results += rows
    print(f"\n{'engine':>7} {'customers':>10} {'step customers/s':>17} {'process s':>10}")
    for r in rates:
        print(f"{r['engine']:>7} {r['customers']:>10,} {r['step customers/s']:>17,.0f} {r['process s']:>10.1f}", flush=True)
    notes = [f"Medians of {args.repeats} alternating run(s) of each engine per size, each from an empty warehouse; "
             "Spark in local mode (`local[*]`, driver memory 2g, 8 shuffle partitions: profiles.yml).", ""]
    notes += [f"- {r['events']:,} events on {r['engine']}, slowest steps: {r['slowest']}" for r in results]
    notes += ["", f"Scoring, the `score` step with one LightGBM champion on the {max(sizes):,}-event shop's warehouses "
              "(DuckDB: the pandas path; Spark: spark_udf); the step's rate, and the whole process's seconds:", "",
              report.table([{"engine": r["engine"], "customers": r["customers"],
                             "customers/s (step)": round(r["step customers/s"]), "process s": r["process s"]}
                            for r in rates])]
    report.write("engines", "Feature build: DuckDB against Spark local mode", report.table([
        {"events": r["events"], "engine": r["engine"], "seconds": r["seconds"],
         "range s": f"{r['range'][0]:.1f}-{r['range'][1]:.1f}", "events/s": round(r["events"] / r["seconds"]),
         "peak GB": r["peak_gb"], "time vs DuckDB": r["vs_duckdb"]} for r in results]), "\n".join(notes))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
