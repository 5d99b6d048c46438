"""Score every customer inside Spark, partition by partition, where the warehouse is Spark.

The same rows as the pandas path (ml/actions/scoring.py), computed where the data lie:

* the clv features (BG/NBD, Pareto/NBD, Gamma-Gamma, fitted on the whole date) need every
  customer at once: the driver fits them on the four columns they read, and Spark joins them;
* the champion predicts through `mlflow.pyfunc.spark_udf`: each executor loads the logged
  model, with the code it carries, and predicts its partitions' rows as pandas batches;
* the churn reasons come from the LightGBM explainer, applied to each partition with
  `mapInPandas` (clm installed on the executors, as in local mode);
* the next order date is the scoring date plus BG/NBD's expected days, rounded half to even as
  numpy rounds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pandas as pd

from ml.actions.reasons import TOP_REASONS, Explainer
from ml.actions.scoring import CLV_INPUTS, Scored
from ml.data.warehouse import BUILD, SCORES_STAGED
from ml.models.baselines import OUTPUT_COLUMNS
from ml.models.clv import CLV_FEATURES, NEXT_ORDER_DAYS, clv_features
from ml.models.features import INPUT_COLUMNS, NUMERIC_FEATURES, model_input

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# The champion's outputs as spark_udf returns them (CUSTOMER_SIGNATURE's outputs).
OUTPUT_SCHEMA = ("churn_probability double, expected_orders double, expected_spend double, value_tier string, "
                 "review_sentiment double")
REASONS = [f"churn_reason_{i + 1}" for i in range(TOP_REASONS)]


def with_clv(spark: SparkSession, features: DataFrame, horizon_days: int) -> DataFrame:
    """customer_features with the clv features and BG/NBD's days to the next order joined."""
    narrow = features.select(*CLV_INPUTS).toPandas()
    clv = pd.concat([narrow[["customer_id", "as_of"]], clv_features(narrow, horizon_days)], axis=1)
    clv = clv[["customer_id", "as_of", *CLV_FEATURES, NEXT_ORDER_DAYS]]
    return features.join(spark.createDataFrame(clv), ["customer_id", "as_of"])


def model_columns(frame: DataFrame) -> list:
    """What the model is given, in the signature's types: numbers as double, as_of a timestamp."""
    from pyspark.sql import functions as F

    numeric = set(NUMERIC_FEATURES)
    return [F.col(c).cast("timestamp").alias(c) if c == "as_of" else
            F.col(c).cast("double").alias(c) if c in numeric else F.col(c).cast("string").alias(c)
            for c in INPUT_COLUMNS]


def reasons_of(frame: DataFrame, explainer: Explainer) -> DataFrame:
    """customer_id and churn_reason_1..k of every row, a partition at a time."""
    inputs = frame.select(*model_columns(frame))
    schema = "customer_id string, " + ", ".join(f"{name} string" for name in REASONS)

    def explain(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            rows = model_input(batch)
            yield explainer.reasons(rows).assign(customer_id=rows["customer_id"].to_numpy())[["customer_id", *REASONS]]

    return inputs.mapInPandas(explain, schema)


def score(spark: SparkSession, features: DataFrame, model_uri: str, explainer: Explainer | None,
          horizon_days: int, extra: dict[str, object]) -> DataFrame:
    """The score rows of every customer of `features` (a Spark DataFrame of customer_features):
    keys, the model's outputs, the next order date, the run's constants (`extra`) and the
    reasons, in the pandas path's columns and order."""
    import mlflow
    from pyspark.sql import functions as F

    joined = with_clv(spark, features, horizon_days).cache()
    predict = mlflow.pyfunc.spark_udf(spark, model_uri, result_type=OUTPUT_SCHEMA, env_manager="local")
    predicted = joined.select(
        F.col("customer_id").cast("string").alias("customer_id"), F.col("as_of").cast("timestamp").alias("as_of"),
        F.date_add(F.col("as_of").cast("date"), F.bround(NEXT_ORDER_DAYS).cast("int")).alias("expected_next_order_date"),
        predict(F.struct(*model_columns(joined))).alias("scores"))
    scored = predicted.select("customer_id", "as_of", *[F.col(f"scores.{c}").alias(c) for c in OUTPUT_COLUMNS],
                              "expected_next_order_date", *[F.lit(value).alias(name) for name, value in extra.items()])
    if explainer is not None:
        scored = scored.join(reasons_of(joined, explainer), "customer_id", "left")
    return scored


def stage(spark: SparkSession, model_uri: str, explainer: Explainer | None, horizon_days: int,
          extra: dict[str, object]) -> Scored:
    """Score build.customer_features into build.scores_staged, in one write: a step that dies
    half way leaves the last attempt's table, which the run's own date never reads."""
    from pyspark.sql import functions as F

    started = time.perf_counter()
    features = spark.table(f"{BUILD}.customer_features")
    score(spark, features, model_uri, explainer, horizon_days, extra).write.mode("overwrite").format(
        "parquet").saveAsTable(SCORES_STAGED)
    staged = spark.table(SCORES_STAGED)
    rows, mean = staged.agg(F.count("*"), F.avg("churn_probability")).first()
    if rows == 0:
        raise ValueError("customer_features has no rows to score; the feature build wrote nothing for this date.")
    numbers = [F.col(c) for c in ("churn_probability", "expected_orders", "expected_spend")]
    unfit = staged.where(F.greatest(*[F.isnan(c) | c.isNull() | (F.abs(c) == float("inf")) for c in numbers])
                         | ~F.col("churn_probability").between(0, 1)).count()
    if unfit:
        raise ValueError("The champion produced scores that are not finite or probabilities outside [0, 1]; "
                         "nothing was published. Roll back with `clm rollback`.")
    return Scored(rows, time.perf_counter() - started, float(mean))
