"""Score every customer in chunks, so memory is bounded by the chunk and not by the shop.

customer_features is read from DuckDB as Arrow record batches of `chunk_rows` customers. Each
chunk is prepared (for the transformer: rendered and tokenised with the fast tokenizer), scored,
explained (the churn reasons) and appended to a Parquet file. Where a core is free of inference
(a GPU, or more cores than torch's threads) a background thread prepares the next chunk while
this one is inferred; on 2 cores it would take a core from torch's 2 threads and slow both
(docs/decisions/0004-no-overlap-of-preparation-and-inference-on-2-cores.md). The file is
loaded into the build schema in one statement at the end, so a scoring step that dies half way
stages nothing.

The clv features (BG/NBD, Pareto/NBD and Gamma-Gamma fitted on the whole as-of date,
ml/models/clv.py) need every customer at once; they are fitted first on the four columns they
read and joined to each chunk, with BG/NBD's next-order timing, which gives every buyer's
`expected_next_order_date` whichever family is champion.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ml.actions.reasons import Explainer
from ml.models.baselines import OUTPUT_COLUMNS
from ml.models.clv import CLV_FEATURES, NEXT_ORDER_DAYS, clv_features
from ml.models.features import model_input
from ml.progress import Progress, say

# What the clv features are fitted on (ml/models/clv.rfm_inputs).
CLV_INPUTS = ("customer_id", "as_of", "frequency", "days_since_first_order", "recency_days", "avg_order_value")


@dataclass
class Scored:
    rows: int
    seconds: float
    mean_churn_probability: float
    # The precision the transformer timed and chose, with every candidate's rate; None for the others.
    precision: str | None = None

    @property
    def per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("nan")


def stages(predictor) -> tuple[Callable, Callable, bool]:
    """(prepare, infer, overlap) of a saved model of any family. The transformer splits its
    work so that rendering and tokenising a chunk can overlap inference of the previous one,
    where that pays (Predictor.overlaps_preparation); the other families predict from the rows
    as they are."""
    if hasattr(predictor, "prepare"):
        return predictor.prepare, predictor.predict_prepared, predictor.overlaps_preparation
    return (lambda frame: frame), predictor.predict, False


def ahead(produce: Callable[[], Chunk | None], overlap: bool) -> Iterator[Chunk]:
    """The chunks `produce` makes until it returns None. With `overlap`, each next one is made
    in a background thread while the caller works on the one it was given."""
    if not overlap:
        while (chunk := produce()) is not None:
            yield chunk
        return
    with ThreadPoolExecutor(max_workers=1) as background:
        pending = background.submit(produce)
        while (chunk := pending.result()) is not None:
            pending = background.submit(produce)
            yield chunk


def read_chunks(warehouse: Path, table: str, chunk_rows: int, horizon_days: int) -> Iterator[pd.DataFrame]:
    """customer_features rows in chunks of `chunk_rows`, with the clv features joined."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("set enable_progress_bar = false")
        narrow = con.sql(f"select {', '.join(CLV_INPUTS)} from {table}").df()
        clv = pd.concat([narrow[["customer_id", "as_of"]], clv_features(narrow, horizon_days)], axis=1)
        del narrow
        con.register("clv", clv)
        reader = con.sql(f"select f.*, {', '.join(f'clv.{c}' for c in CLV_FEATURES + (NEXT_ORDER_DAYS,))} "
                         f"from {table} f join clv using (customer_id, as_of)").to_arrow_reader(chunk_rows)
        for batch in reader:
            yield batch.to_pandas()


@dataclass
class Chunk:
    """A chunk ready for the model: its rows, what the model takes, and the churn reasons
    (which come from the LightGBM explainer, not from the model being scored)."""

    inputs: pd.DataFrame
    ready: object
    reasons: pd.DataFrame | None
    # BG/NBD's expected days to the next order (NaN for customers who have not bought yet).
    next_order_days: np.ndarray


def score_to_parquet(chunks: Iterator[pd.DataFrame], predictor, explainer: Explainer | None, out: Path,
                     extra: dict[str, object], total: int | None = None) -> Scored:
    """Score every chunk into the Parquet file `out`; `extra` columns are constant per run
    (model name, version, scored_at...). Progress with a rate and the time left is logged per
    chunk."""
    prepare, infer, overlap = stages(predictor)

    def next_chunk() -> Chunk | None:
        frame = next(chunks, None)
        if frame is None:
            return None
        inputs = model_input(frame)
        return Chunk(inputs, prepare(inputs), None if explainer is None else explainer.reasons(inputs),
                     frame[NEXT_ORDER_DAYS].to_numpy("float64"))

    started, rows, churn_sum, writer = time.perf_counter(), 0, 0.0, None
    progress = Progress("scored", "customers", total)
    try:
        for chunk in ahead(next_chunk, overlap):
            scores = score_rows(chunk, infer(chunk.ready), extra)
            if rows == 0 and getattr(predictor, "choice", None) is not None:
                say(f"scoring at {predictor.choice.describe('customers/s')}")
            table = pa.Table.from_pandas(scores, preserve_index=False)
            writer = writer or pq.ParquetWriter(out, table.schema)
            writer.write_table(table)
            rows += len(scores)
            churn_sum += float(scores["churn_probability"].sum())
            progress.update(rows, force=True)
    finally:
        if writer is not None:
            writer.close()
    if rows == 0:
        raise ValueError("customer_features has no rows to score; the feature build wrote nothing for this date.")
    choice = getattr(predictor, "choice", None)
    return Scored(rows, time.perf_counter() - started, churn_sum / rows,
                  None if choice is None else choice.describe("customers/s"))


def score_rows(chunk: Chunk, predictions: pd.DataFrame, extra: dict[str, object]) -> pd.DataFrame:
    """One chunk's score rows: keys, the model's outputs, the run's constants and the reasons."""
    numbers = predictions[["churn_probability", "expected_orders", "expected_spend"]].to_numpy("float64")
    if not np.isfinite(numbers).all() or not predictions["churn_probability"].between(0, 1).all():
        raise ValueError("The champion produced scores that are not finite or probabilities outside [0, 1]; "
                         "nothing was published. Roll back with `clm rollback`.")
    scores = chunk.inputs[["customer_id", "as_of"]].reset_index(drop=True)
    for column in OUTPUT_COLUMNS:
        scores[column] = predictions[column].to_numpy()
    # A date in every chunk, even one of newcomers only (all null): the Parquet file keeps one schema.
    scores["expected_next_order_date"] = (scores["as_of"] + pd.to_timedelta(np.round(chunk.next_order_days), unit="D")
                                          ).astype("date32[pyarrow]")
    for column, value in extra.items():
        scores[column] = value
    if chunk.reasons is not None:
        scores = scores.join(chunk.reasons.reset_index(drop=True))
    return scores


