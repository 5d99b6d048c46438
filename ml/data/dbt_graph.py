"""The dbt project's models as the daily DAG shows them: one Airflow task per model or seed,
named after it and wired as its `ref()`s are, each reporting what the stage's single `dbt build`
did to it (built, failed with dbt's error, or skipped).

The graph is read from the project's files, not from a dbt manifest: the DAG file is parsed
every 30 seconds by Airflow and on a fresh clone before dbt ever ran, and `dbt ls` would cost
seconds at every parse. tests/test_schema.py holds it equal to what `dbt ls` selects.

Why one build and reporting tasks rather than one dbt process per model (cosmos' LOCAL mode):
the base, staging and intermediate models live in an in-memory database for the length of one
dbt process (ml/data/dbt_runner.py), and a dbt process costs seconds to start; the measurement
is in docs/decisions/0001-one-dbt-build-reported-as-tasks.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REF = re.compile(r"""\bref\(\s*['"](\w+)['"]\s*\)""")
# dbt's statuses of a node that broke (a model's error, a test's fail or error).
FAILED = {"error", "fail", "runtime error"}


@dataclass(frozen=True)
class Node:
    name: str
    kind: str  # "model" or "seed"
    path: str  # relative to the project, e.g. models/staging/stg_shop__orders.sql
    parents: tuple[str, ...]


def project_nodes(project_dir: Path) -> dict[str, Node]:
    """Every model (its SQL's refs are its parents) and seed of the project."""
    nodes = {p.stem: Node(p.stem, "seed", str(p.relative_to(project_dir)), ())
             for p in sorted(project_dir.glob("seeds/*.csv"))}
    for path in sorted(project_dir.glob("models/**/*.sql")):
        parents = tuple(sorted(set(REF.findall(path.read_text()))))
        nodes[path.stem] = Node(path.stem, "model", str(path.relative_to(project_dir)), parents)
    return nodes


def select(nodes: dict[str, Node], selector: str) -> dict[str, Node]:
    """The nodes a dbt selector picks, parents before children. Handles the forms clm's
    selectors use: `name`, `path:models/dir` and either with a leading `+` (and its ancestors)."""
    chosen: set[str] = set()
    for term in selector.split():
        with_ancestors, term = term.startswith("+"), term.lstrip("+")
        if term.startswith("path:"):
            found = {n for n, node in nodes.items() if node.path.startswith(term.removeprefix("path:").rstrip("/") + "/")}
        else:
            found = {term} & nodes.keys()
        if not found:
            raise ValueError(f"The dbt selector term {term!r} matches no model or seed of the project.")
        chosen |= found
        while with_ancestors and (more := {p for n in found for p in nodes[n].parents if p in nodes} - found):
            found |= more
            chosen |= more
    return {name: nodes[name] for name in _parents_first(nodes, chosen)}


def _parents_first(nodes: dict[str, Node], names: set[str]) -> list[str]:
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name in ordered:
            return
        for parent in nodes[name].parents:
            if parent in names:
                visit(parent)
        ordered.append(name)

    for name in sorted(names):
        visit(name)
    return ordered


def report(name: str, outcomes: dict | None) -> tuple[str, list[str]]:
    """What the stage's build did to node `name`: ("success" | "error" | "skipped", lines for
    the task's log). `outcomes` is ml.data.dbt_runner.node_outcomes of the build; None when dbt
    stopped before it built anything."""
    if outcomes is None:
        return "skipped", [f"dbt stopped before building {name}; the stage's own task log says why."]
    outcome = outcomes.get(name)
    if outcome is None:
        return "skipped", [f"dbt did not build {name} in this run."]
    lines = [f"{name}: {outcome['status']} in {outcome['seconds']:.2f} s"
             + (f", {outcome['message']}" if outcome["message"] and outcome["status"] == "success" else "")]
    if outcome["status"] == "error":
        lines.append(f"dbt error: {outcome['message']}")
    failed_tests = [t for t in outcome["tests"] if t["status"] in FAILED]
    if outcome["tests"]:
        lines.append(f"{len(outcome['tests'])} tests, {len(failed_tests)} failed")
    lines += [f"test {test['name']}: {test['status']} - {test['message']}" for test in failed_tests]
    if outcome["status"] in FAILED or failed_tests:
        return "error", lines
    if outcome["status"] == "skipped":
        return "skipped", [*lines, f"dbt skipped {name} because a model or test it depends on failed."]
    return "success", lines

