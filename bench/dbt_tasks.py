"""How to show each dbt model as an Airflow task, measured: one `dbt build` whose models are
reported by tasks afterwards (what clm_daily does), against one dbt process per model (what
astronomer-cosmos' LOCAL execution mode runs), on the same landed shop.

A dbt process per model cannot use the in-memory `scratch` database the base, staging and
intermediate models live in (it vanishes with each process), so that side runs on a copy of
the project whose `scratch` is a file. Three builds of `+customer_features`, each from an
empty warehouse with a warm parse cache, and the feature bench's hand-written query:

* `one build, scratch in memory`: `dbt_runner.build`, what clm runs;
* `one build, scratch on disk`: the same, with the intermediate models written to a file;
* `one process per model`: `dbt build --select <node>` for each node, parents first, on disk.

The table is also written to docs/benchmarks/dbt_tasks.md (bench/report.py).

    python bench/dbt_tasks.py                # 10M events
    python bench/dbt_tasks.py --events 1e8
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import report  # noqa: E402
from features import AS_OF, CUTOFFS, SELECTOR, build_command, hand_command, measure, warm_parse_cache, write_shop  # noqa: E402

from ml.data import dbt_graph  # noqa: E402
from ml.settings import PROJECT_DIR  # noqa: E402

PER_NODE = """
import sys
from datetime import date
from ml import settings
from ml.data import dbt_runner
s = settings.load()
for node in sys.argv[1:]:
    done = dbt_runner.run_dbt(["build", "--select", node, "--exclude-resource-type", "unit_test", "--threads", "1",
                              "--indirect-selection", "buildable", "--full-refresh"], date.fromisoformat("{as_of}"), s)
    if done.returncode:
        raise SystemExit(node + " failed: " + done.stdout[-2000:])
"""


def project_with_scratch_on_disk(work: Path) -> Path:
    """A copy of the project whose `scratch` database is a file, for processes that share it."""
    project = work / "project_scratch_on_disk"
    shutil.copytree(PROJECT_DIR / "dbt_project", project / "dbt_project",
                    ignore=shutil.ignore_patterns("target", "logs"))
    profile = project / "dbt_project" / "profiles.yml"
    profile.write_text(profile.read_text().replace('":memory:"', f'"{work / "scratch.duckdb"}"'))
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=float, default=1e7)
    args = parser.parse_args()
    events = int(args.events)
    work = Path(tempfile.mkdtemp(prefix="clm-bench-tasks-"))
    home, source = work / "home", work / "shop"
    write_shop(source, events)
    env = {**os.environ, "CLM_HOME": str(home), "HF_HUB_OFFLINE": "1", "CLM_TRAINING_CUTOFFS": str(len(CUTOFFS) - 1)}
    subprocess.run([str(Path(sys.executable).with_name("clm")), "ingest", "folder", str(source)], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    shutil.rmtree(source)
    on_disk = {**env, "CLM_PROJECT_DIR": str(project_with_scratch_on_disk(work))}
    nodes = list(dbt_graph.select(dbt_graph.project_nodes(PROJECT_DIR / "dbt_project"), SELECTOR))
    sides = {
        "one build, scratch in memory (clm)": (build_command(), env),
        "one build, scratch on disk": (build_command(), on_disk),
        f"one process per model ({len(nodes)} nodes)": ([sys.executable, "-c", PER_NODE.format(as_of=AS_OF), *nodes],
                                                          on_disk),
    }
    hand_s, _ = measure(hand_command(home, work / "hand.duckdb"), env)
    print(f"{events:,} events, {len(nodes)} dbt nodes in {SELECTOR}; hand query {hand_s:.1f} s")
    print(f"{'side':<42} {'s':>7} {'/ hand':>7} {'peak GB':>8}")
    rows = [{"side": "hand-written query", "s": hand_s, "/ hand": 1.0, "peak GB": None}]
    for name, (command, side_env) in sides.items():
        warm_parse_cache(side_env)
        (home / "warehouse.duckdb").unlink(missing_ok=True)
        (work / "scratch.duckdb").unlink(missing_ok=True)
        seconds, peak = measure(command, side_env)
        print(f"{name:<42} {seconds:>7.1f} {seconds / hand_s:>7.2f} {peak / 2**30:>8.2f}", flush=True)
        rows.append({"side": name, "s": seconds, "/ hand": seconds / hand_s, "peak GB": peak / 2**30})
    report.write("dbt_tasks", "dbt models as tasks: one build against a dbt process per model", report.table(rows),
                 f"{events:,} events, {len(nodes)} dbt nodes in `{SELECTOR}`; one run of each side, each from an "
                 "empty warehouse with a warm parse cache.")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
