"""Engines benchmark: the same feature build on DuckDB and on Spark local mode, on one machine.

For each size, the feature bench's shop (bench/features.py: 1 customer per 100 events, 1 order
per 20) is landed once with `clm ingest`; then the pipeline's own `dbt_runner.build` of
`+customer_features` (contract rules on every raw row, staging, the four as-of dates, every
feature and its tests) runs with CLM_ENGINE=duckdb and with CLM_ENGINE=spark, each in its own
process from an empty warehouse, alternating `--repeats` times. Wall seconds and peak resident
memory of the whole process tree (Spark's JVM is a child of the dbt process) are measured;
both hold dbt to the feature bench's three training cutoffs.

    python bench/engines.py                  # 1M and 10M events
    python bench/engines.py --sizes 1e6      # a quick look

Writes docs/benchmarks/engines.md (bench/report.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import report
from features import CUTOFFS, build_command, measure, slowest_nodes, write_shop

ENGINES = ("duckdb", "spark")


def run_size(events: int, work: Path, repeats: int) -> list[dict]:
    """Both engines `repeats` times, alternating, on one landed shop: a row per engine."""
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
        shutil.rmtree(homes[engine], ignore_errors=True)
    shutil.rmtree(raw, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1e6,1e7", help="comma-separated event counts")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of each engine per size (median)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="clm-bench-engines-"))
    print(f"{'events':>12} {'engine':>7} {'seconds':>8} {'events/s':>12} {'peak GB':>8} {'vs duckdb':>9}", flush=True)
    results = []
    for size in (int(float(s)) for s in args.sizes.split(",")):
        rows = run_size(size, work, args.repeats)
        duck = rows[0]["seconds"]
        for r in rows:
            r["vs_duckdb"] = r["seconds"] / duck
            print(f"{r['events']:>12,} {r['engine']:>7} {r['seconds']:>8.1f} {r['events'] / r['seconds']:>12,.0f} "
                  f"{r['peak_gb']:>8.2f} {r['vs_duckdb']:>9.2f}", flush=True)
        results += rows
    notes = [f"Medians of {args.repeats} alternating run(s) of each engine per size, each from an empty warehouse; "
             "Spark in local mode (`local[*]`, driver memory 2g, 8 shuffle partitions: profiles.yml).", ""]
    notes += [f"- {r['events']:,} events on {r['engine']}, slowest steps: {r['slowest']}" for r in results]
    report.write("engines", "Feature build: DuckDB against Spark local mode", report.table([
        {"events": r["events"], "engine": r["engine"], "seconds": r["seconds"],
         "range s": f"{r['range'][0]:.1f}-{r['range'][1]:.1f}", "events/s": round(r["events"] / r["seconds"]),
         "peak GB": r["peak_gb"], "time vs DuckDB": r["vs_duckdb"]} for r in results]), "\n".join(notes))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
