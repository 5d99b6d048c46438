"""The Spark session clm's own steps use on the `spark` engine: the one dbt-spark opens, from the
same settings (profiles.yml's `spark` target, rendered with clm's environment), so both see one
warehouse and one catalog.

Local mode's catalog is an embedded Derby metastore, which one process opens at a time: a step
holds the session for its work and stops it before the next step (dbt included) starts, as with
DuckDB's one writer per file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import yaml

from ml.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ENV_VAR = re.compile(r"""\{\{\s*env_var\(\s*'(\w+)'\s*(?:,\s*'([^']*)'\s*)?\)\s*\}\}""")


def spark_target(settings: Settings) -> dict:
    """profiles.yml's spark target with its env_var() calls rendered as dbt renders them."""
    environment = {**os.environ, **settings.env()}

    def render(value: object) -> object:
        if not isinstance(value, str):
            return value
        return ENV_VAR.sub(lambda m: environment.get(m.group(1), m.group(2) or ""), value)

    target = yaml.safe_load((settings.dbt_project_dir / "profiles.yml").read_text())["clm"]["outputs"]["spark"]
    return {key: ({k: render(v) for k, v in value.items()} if isinstance(value, dict) else render(value))
            for key, value in target.items()}


def spark_conf(settings: Settings) -> dict[str, str]:
    """The session's settings: the target's server_side_parameters, with ANSI mode off as
    dbt-spark sets it (its casts of bad text give NULL, as DuckDB's try_cast does)."""
    conf = {str(k): str(v) for k, v in spark_target(settings)["server_side_parameters"].items()}
    return {**conf, "spark.app.name": "clm", "spark.sql.ansi.enabled": "false"}


@contextmanager
def session(settings: Settings) -> Iterator[SparkSession]:
    """A Spark session on the warehouse for the length of a step; stopped on the way out."""
    from pyspark.sql import SparkSession

    for name in ("PYSPARK_PYTHON", "SPARK_LOCAL_IP"):
        os.environ.setdefault(name, settings.env()[name])
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()
