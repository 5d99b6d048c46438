"""Great Expectations checks on warehouse tables, through GX's pandas datasource.

GX's SQL datasource fails every metric on DuckDB (GX issues #10738, #11579), so each table is
read from DuckDB into pandas and validated there. Suites live as JSON in expectations/, one per
table, so data owners review them like code.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
MAX_EXAMPLES = 5
log = logging.getLogger(__name__)


class ValidationFailed(RuntimeError):
    """The data broke an expectation; the message names the rules, columns and example rows."""


@dataclass(frozen=True)
class Failure:
    table: str
    rule: str
    column: str
    unexpected_count: int | None
    examples: list[dict]

    def describe(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        count = f"{self.unexpected_count} row(s) broke it" if self.unexpected_count is not None else "failed"
        examples = "; e.g. " + ", ".join(_format_row(row) for row in self.examples) if self.examples else ""
        return f"{where}: {self.rule} {count}{examples}"


def load_suite(path: Path):
    """Build a GX ExpectationSuite from its JSON file."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    spec = json.loads(Path(path).read_text())
    expectations = [ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"]).to_domain_obj()
                    for e in spec["expectations"]]
    return gx.ExpectationSuite(name=spec["name"], expectations=expectations, meta=spec.get("meta", {}))


def validate_tables(frames: dict[str, pd.DataFrame], suites_dir: Path, gx_root: Path,
                    parameters: dict | None = None) -> dict[str, dict]:
    """Validate each table against its suite (`<name>.json` in suites_dir) through a GX
    checkpoint, which also updates the Data Docs under gx_root. `parameters` fill the suites'
    {"$PARAMETER": name} bounds (the previous run's values, for drift checks). Every failure of
    every table is reported at once; any failure raises ValidationFailed."""
    failures, statistics = [], {}
    for name, frame in frames.items():
        suite = load_suite(suites_dir / f"{name}.json")
        found, statistics[name] = _run_checkpoint(frame, suite, gx_root, "customer_id", parameters or {})
        failures += found
    if failures:
        raise ValidationFailed(_report(failures))
    return statistics


def data_docs_index(gx_root: Path) -> Path:
    return gx_root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


def _run_checkpoint(frame: pd.DataFrame, suite, gx_root: Path, key: str,
                    parameters: dict) -> tuple[list[Failure], dict]:
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=str(gx_root))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_or_update_pandas("clm")
    asset = next((a for a in source.assets if a.name == suite.name), None) or source.add_dataframe_asset(suite.name)
    batch = next((b for b in asset.batch_definitions if b.name == "whole"), None) \
        or asset.add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add_or_update(suite)
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite.name, data=batch, suite=suite)
    )
    checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
        name=suite.name,
        validation_definitions=[definition],
        actions=[UpdateDataDocsAction(name="update_data_docs")],
        result_format={"result_format": "COMPLETE",
                       "unexpected_index_column_names": [key] if key in frame.columns else []},
    ))
    result = next(iter(checkpoint.run(batch_parameters={"dataframe": frame}, expectation_parameters=parameters).run_results.values()))
    failures = [_failure(suite.name, r) for r in result.results if not r.success]
    log.info("%s: %d of %d expectations passed on %d rows", suite.name,
             len(result.results) - len(failures), len(result.results), len(frame))
    return failures, dict(result.statistics)


def _report(failures: list[Failure]) -> str:
    return (f"Validation failed ({len(failures)} expectation(s) broken); nothing was published:\n  "
            + "\n  ".join(f.describe() for f in failures))


def _failure(table: str, result) -> Failure:
    kwargs = result.expectation_config.kwargs
    column = kwargs.get("column") or ", ".join(v for k, v in kwargs.items() if k.startswith("column_"))
    bounds = {k: v for k, v in kwargs.items() if k in {"min_value", "max_value", "value_set", "or_equal"}}
    if kwargs.get("row_condition"):
        bounds["where"] = str(kwargs["row_condition"])
    rule = result.expectation_config.type + (f" {bounds}" if bounds else "")
    details = result.result or {}
    if result.exception_info and result.exception_info.get("raised_exception"):
        rule += f" (could not run: {result.exception_info.get('exception_message')})"
    examples = list(details.get("unexpected_index_list") or [])[:MAX_EXAMPLES]
    if not examples:
        examples = [{"value": v} for v in (details.get("partial_unexpected_list") or [])[:MAX_EXAMPLES]]
    return Failure(table=table, rule=rule, column=column, unexpected_count=details.get("unexpected_count"), examples=examples)


def _format_row(row: dict) -> str:
    return "(" + ", ".join(f"{k}={_plain(v)}" for k, v in row.items()) + ")"


def _plain(value) -> str:
    return str(value.item() if hasattr(value, "item") else value)
