"""Run the dbt project on the warehouse, in-process through dbt's programmatic runner."""

from __future__ import annotations

import json
import os
from datetime import date

from ml.settings import Settings

FEATURE_SELECTOR = "+customer_features +training_examples"
MARTS_SELECTOR = "customer_segments rfm_segments"


class DbtError(RuntimeError):
    """A dbt model or test failed; the message lists which."""


def dbt_vars(as_of: date, settings: Settings) -> dict[str, object]:
    return {"as_of": as_of.isoformat(), "horizon_days": settings.horizon_days}


def build(select: str, as_of: date, settings: Settings) -> dict[str, int]:
    """`dbt build` the selection for as_of; return {node: rows affected}, raise on any failure."""
    from dbt.cli.main import dbtRunner

    os.environ.update(settings.env())
    project = str(settings.dbt_project_dir)
    args = [
        "build", "--select", *select.split(),
        "--vars", json.dumps(dbt_vars(as_of, settings)),
        "--project-dir", project, "--profiles-dir", project,
        "--target-path", str(settings.home / "dbt" / "target"),
        "--log-path", str(settings.home / "dbt" / "logs"),
        "--threads", "1",
    ]
    result = dbtRunner().invoke(args)
    if result.exception is not None:
        raise DbtError(f"dbt could not run: {result.exception}")
    failures = [r for r in (result.result or []) if str(r.status) in {"error", "fail", "runtime error"}]
    if failures or not result.success:
        lines = [f"{r.node.name}: {r.status} - {(r.message or '').strip()}" for r in failures]
        raise DbtError("dbt build failed:\n  " + "\n  ".join(lines or ["see the dbt log above"]))
    return {r.node.name: int((r.adapter_response or {}).get("rows_affected", 0) or 0) for r in result.result}
