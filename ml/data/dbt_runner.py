"""Run the dbt project on the warehouse.

dbt runs in its own process: it keeps its DuckDB connection (and global state) for the life of
the process that ran it, and DuckDB lets one process at a time write the file. A subprocess
hands the file back the moment it exits.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

from ml.data.dbt_graph import FAILED
from ml.data.ingest import snapshot_id
from ml.progress import Progress
from ml.settings import Settings

FEATURE_SELECTOR = ("+customer_features +training_examples +review_sentiment +campaign_effect +customer_products +products "
                    "+path:models/quarantine")
MARTS_SELECTOR = ("customer_scores customer_segments rfm_segments churn_alerts retention_rules next_best_action "
                  "recommendations")
PUBLISHED_TAG = "published"


class DbtError(RuntimeError):
    """A dbt model or test failed; the message lists which, and why. `outcomes` says what the
    build did to each node (node_outcomes), None when dbt stopped before building any."""

    def __init__(self, message: str, outcomes: dict | None = None):
        super().__init__(message)
        self.outcomes = outcomes


# A node's last line in dbt's output: "12 of 155 OK created sql table model ..." (or PASS,
# ERROR, FAIL, WARN, SKIP); not the project's hooks, counted apart ("1 of 1 OK hook: ...").
NODE_DONE = re.compile(r"\b(\d+) of (\d+) (?:OK|PASS|ERROR|FAIL|WARN|SKIP)\b(?! hook:)")


def run_dbt(args: list[str], as_of: date, settings: Settings) -> subprocess.CompletedProcess:
    """One dbt command on the project, for as_of.

    The date travels in CLM_AS_OF and the vars are the same on every run, so dbt's partial
    parse survives a daily run (a changed --vars re-parses the whole project).
    """
    project = str(settings.dbt_project_dir)
    command = [
        str(Path(sys.executable).with_name("dbt")), *args,
        "--vars", json.dumps({"horizon_days": settings.horizon_days,
                              **({"training_cutoffs": settings.training_cutoffs} if settings.training_cutoffs else {})}),
        "--project-dir", project, "--profiles-dir", project,
        "--target-path", str(target_path(settings)),
        "--log-path", str(settings.home / "dbt" / "logs"),
    ]
    env = {**os.environ, **settings.env(), "CLM_AS_OF": as_of.isoformat()}
    # dbt's own lines ("12 of 155 OK created ...") are read as they come, for the progress; its
    # clock starts at the first node, after dbt has parsed the project.
    progress, lines = None, []
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        for line in process.stdout:
            lines.append(line)
            if done := NODE_DONE.search(line):
                progress = progress or Progress("dbt built", "nodes", int(done.group(2)))
                progress.update(int(done.group(1)))
    return subprocess.CompletedProcess(command, process.returncode, "".join(lines), "")


def target_path(settings: Settings) -> Path:
    return settings.home / "dbt" / "target"


def built_marker(settings: Settings) -> Path:
    """Names the raw snapshot and dbt project of the last successful build."""
    return settings.home / "dbt" / "built_key"


def project_fingerprint(project_dir: Path) -> str:
    """Changes with any model, macro or project setting: an upgraded project may have changed
    what an incremental table holds, so its first run rebuilds from scratch."""
    digest = hashlib.sha256()
    files = [project_dir / "dbt_project.yml", *project_dir.glob("models/**/*"), *project_dir.glob("macros/**/*")]
    for path in sorted(f for f in files if f.is_file()):
        digest.update(str(path.relative_to(project_dir)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def build(select: str, as_of: date, settings: Settings) -> dict[str, dict]:
    """`dbt build` the selection for as_of; return what it did to each model and seed
    (node_outcomes), raise DbtError on any failure.

    Incremental models only add recent days when the raw snapshot and the dbt project are those
    of the last successful build; a new snapshot or a changed project rebuilds them whole.
    """
    snapshot = snapshot_id(settings.raw_dir)
    built_key = None if snapshot is None else f"{snapshot} {project_fingerprint(settings.dbt_project_dir)}"
    marker = built_marker(settings)
    full_refresh = built_key is None or not marker.exists() or marker.read_text() != built_key
    results_path = target_path(settings) / "run_results.json"
    results_path.unlink(missing_ok=True)  # a dbt that dies early must not leave the last run's results
    # Unit tests check the models' logic on hand-made rows: the test suite runs them, not every run.
    # A test runs with the selection that builds its last parent ("buildable"): a test on
    # recommendations.product_id -> products waits for recommendations, built after the scores.
    completed = run_dbt(["build", "--select", *select.split(), "--exclude-resource-type", "unit_test", "--threads", "1",
                         "--indirect-selection", "buildable",
                         *(["--full-refresh"] if full_refresh else [])], as_of, settings)
    sys.stdout.write(completed.stdout)
    results = json.loads(results_path.read_text())["results"] if results_path.exists() else []
    nodes = _manifest_nodes(settings)
    failures = {r["unique_id"]: describe_failure(r, nodes, settings) for r in results if r["status"] in FAILED}
    outcomes = node_outcomes(results, nodes, failures) if results else None
    if completed.returncode != 0 or failures:
        details = list(failures.values()) or [
            line for line in completed.stdout.splitlines()[-15:] + completed.stderr.splitlines()[-15:] if line.strip()]
        raise DbtError("dbt build failed; nothing was published:\n  " + "\n  ".join(details), outcomes)
    if built_key is not None:
        marker.write_text(built_key)
    return outcomes or {}



def node_outcomes(results: list[dict], nodes: dict, failures: dict[str, str]) -> dict[str, dict]:
    """Per model and seed of a build: its status, seconds and dbt's message, with the tests on
    it (a test on several models counts for each). Failed ones carry describe_failure's line."""
    outcomes, tests = {}, []
    for result in results:
        kind, name = result["unique_id"].split(".")[0], result["unique_id"].split(".")[-1]
        entry = {"status": result["status"], "seconds": round(result.get("execution_time") or 0.0, 3),
                 "message": failures.get(result["unique_id"]) or (result.get("message") or "").strip()}
        if kind in {"model", "seed"}:
            outcomes[name] = {**entry, "tests": []}
        elif kind == "test":
            tests.append((result["unique_id"], entry))
    for unique_id, entry in tests:
        node = nodes.get(unique_id, {})
        attached = node.get("attached_node")
        for parent in [attached] if attached else node.get("depends_on", {}).get("nodes", []):
            if (name := parent.split(".")[-1]) in outcomes:
                outcomes[name]["tests"].append({"name": node.get("name", unique_id.split(".")[2]), **entry})
    return outcomes


def describe_failure(result: dict, nodes: dict, settings: Settings) -> str:
    """One line per failed model or test: which table and column broke which rule, how many
    rows, and for tests on published tables a few of those rows (their failing query is kept
    as a view, `store_failures_as: view`)."""
    message = (result.get("message") or "").strip()
    node = nodes.get(result["unique_id"], {})
    if node.get("resource_type") != "test":
        return f"{result['unique_id']}: {result['status']} - {message}"
    metadata = node.get("test_metadata") or {}
    arguments = {k: v for k, v in (metadata.get("kwargs") or {}).items() if k not in {"model", "column_name"}}
    table = node.get("attached_node", "").split(".")[-1] or result["unique_id"]
    column = node.get("column_name")
    where = f"{table}.{column}" if column else table
    rule = f"{metadata.get('name', node.get('name'))} {arguments}" if arguments else metadata.get("name", node.get("name"))
    line = f"{where}: {rule} broken by {result.get('failures')} row(s)"
    examples = _failing_rows(result.get("relation_name"), column, settings)
    return line + (f"; e.g. {examples}" if examples else "") + f" (dbt test {node.get('name')})"


def _failing_rows(relation: str | None, column: str | None, settings: Settings, limit: int = 5) -> str:
    if not relation:
        return ""
    import duckdb

    try:
        with duckdb.connect(str(settings.warehouse), read_only=True) as con:
            frame = con.execute(f"select * from {relation} limit {limit}").df()
    except duckdb.Error:
        return ""
    keys = [c for c in ("customer_id", "as_of", column) if c and c in frame.columns] or list(frame.columns[:3])
    return ", ".join("(" + ", ".join(f"{k}={row[k]}" for k in keys) + ")" for _, row in frame.iterrows())


def _manifest_nodes(settings: Settings) -> dict:
    path = target_path(settings) / "manifest.json"
    return json.loads(path.read_text())["nodes"] if path.exists() else {}


def published_models(settings: Settings) -> list[str]:
    """The models tagged `published` in dbt's manifest of the last build: what analysts read."""
    nodes = _manifest_nodes(settings)
    if not nodes:
        raise DbtError(f"No dbt manifest in {target_path(settings)}: run the dbt build of this run before publishing.")
    return sorted(node["alias"] for node in nodes.values()
                  if node["resource_type"] == "model" and PUBLISHED_TAG in node["tags"])


def docs(as_of: date, settings: Settings) -> Path:
    """The data dictionary (every model and column described) as one self-contained HTML file
    that opens from disk; return it.

    What `dbt docs generate --static` makes, with one change: the tables analysts read are named
    where they read them, `analytics.main.<table>` (the analysts' database that publish writes),
    not `warehouse.build.<table>` where the pipeline builds them.
    """
    completed = run_dbt(["docs", "generate"], as_of, settings)
    if completed.returncode != 0:
        raise DbtError("dbt docs generate failed:\n" + completed.stdout[-3000:])
    target = target_path(settings)
    manifest, catalog = (json.loads((target / name).read_text()) for name in ("manifest.json", "catalog.json"))
    database = settings.analytics_db.stem
    for unique_id, node in manifest["nodes"].items():
        if PUBLISHED_TAG in node.get("tags", []):
            node.update(database=database, schema="main", relation_name=f'"{database}"."main"."{node["alias"]}"')
            if unique_id in catalog["nodes"]:
                catalog["nodes"][unique_id]["metadata"].update(database=database, schema="main")
    page = (target / "index.html").read_text()
    page = page.replace('"MANIFEST.JSON INLINE DATA"', json.dumps(manifest)).replace('"CATALOG.JSON INLINE DATA"',
                                                                                     json.dumps(catalog))
    static = target / "static_index.html"
    static.write_text(page)
    return static
