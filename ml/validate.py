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
    rule: str
    column: str
    unexpected_count: int | None
    examples: list[dict]

    def describe(self, table: str) -> str:
        where = f"{table}.{self.column}" if self.column else table
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


def validate_frame(frame: pd.DataFrame, suite_path: Path, key: str = "customer_id") -> dict:
    """Validate `frame` against the suite; return GX's result as a dict, raise ValidationFailed on any failure."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    suite = load_suite(suite_path)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("clm")
        .add_dataframe_asset(suite.name)
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    index_columns = [key] if key in frame.columns else []
    result = batch.validate(
        suite, result_format={"result_format": "COMPLETE", "unexpected_index_column_names": index_columns}
    )
    failures = [_failure(r) for r in result.results if not r.success]
    if failures:
        raise ValidationFailed(
            f"Validation of {suite.name} failed ({len(failures)} of {len(result.results)} expectations); "
            "nothing was published:\n  " + "\n  ".join(f.describe(suite.name) for f in failures)
        )
    log.info("%s passed %d expectations on %d rows", suite.name, len(result.results), len(frame))
    return result.to_json_dict()


def _failure(result) -> Failure:
    kwargs = result.expectation_config.kwargs
    column = kwargs.get("column") or ", ".join(v for k, v in kwargs.items() if k.startswith("column_"))
    bounds = {k: v for k, v in kwargs.items() if k in {"min_value", "max_value", "value_set", "or_equal"}}
    rule = result.expectation_config.type + (f" {bounds}" if bounds else "")
    details = result.result or {}
    if result.exception_info and result.exception_info.get("raised_exception"):
        rule += f" (could not run: {result.exception_info.get('exception_message')})"
    examples = list(details.get("unexpected_index_list") or [])[:MAX_EXAMPLES]
    if not examples:
        examples = [{"value": v} for v in (details.get("partial_unexpected_list") or [])[:MAX_EXAMPLES]]
    return Failure(rule=rule, column=column, unexpected_count=details.get("unexpected_count"), examples=examples)


def _format_row(row: dict) -> str:
    return "(" + ", ".join(f"{k}={_plain(v)}" for k, v in row.items()) + ")"


def _plain(value) -> str:
    return str(value.item() if hasattr(value, "item") else value)
