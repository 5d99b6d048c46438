"""Scoring benchmark: the pipeline's streaming scoring against the bare forward pass.

A synthetic shop (2,000 customers) runs through the dbt feature build; its customer_features
rows are repeated, with new customer ids, into a warehouse of N customers. Then, each in a
fresh process so that its peak memory is its own:

* `end to end`: what the pipeline's `score` step does (ml/actions/scoring.py): read customer_features
  from DuckDB in Arrow batches, add the clv features, render, tokenise, infer, explain (churn
  reasons from LightGBM), write Parquet chunk by chunk and load it into the warehouse;
* `bare forward`: the same transformer on the same rows, tokenised, sorted by length, padded
  and moved to the device beforehand, timing only the second of two forward passes (the first
  sets up each batch shape's kernels), at every precision the device runs (fp32, bf16
  autocast, int8; on at most 10,000 rows: it is a rate).

End to end, the transformer times its candidate precisions on the first chunk and runs the
fastest (ml/models/precision.py), as scoring does; the table names the one it chose and its
ratio to that precision's bare forward pass, beside every precision's bare rate. The
transformer is MiniLM with freshly initialised heads (training does not change its speed),
saved as allowing every precision; LightGBM, BG/NBD and the blend are fitted on the shop's
training examples and scored end to end beside it.

    python bench/scoring.py                       # 10k and 100k customers
    python bench/scoring.py --customers 1000000   # one size
    python bench/scoring.py --large --json        # 10k, 100k and 1M; a JSON line per size
    python bench/scoring.py --customers 1000000 --families lightgbm

The table is also written to docs/benchmarks/scoring.md (bench/report.py).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

import duckdb
import report
import torch
from shop import build_shop
from transformers import AutoTokenizer

from ml.actions import scoring
from ml.actions.reasons import Explainer
from ml.data import warehouse
from ml.data.feature_schema import churn_risk
from ml.models import predictor
from ml.models.baselines import BlendModel, ClvModel, GbmModel
from ml.models.batching import collate, length_buckets
from ml.models.features import model_input, numeric_matrix
from ml.models.networks import CustomerModel, pick_device
from ml.models.precision import PRECISIONS, supported
from ml.run import steps
from ml.training.config import TrainConfig

SHOP_CUSTOMERS = 2_000
BARE_ROWS = 10_000
FAMILIES = ("transformer", "lightgbm", "bg_nbd", "blend")


def make_warehouse(source: Path, customers: int, out: Path) -> None:
    """build.customer_features of `customers` rows: the shop's, repeated with new ids."""
    with duckdb.connect(str(out)) as con:
        con.execute(f"attach '{source}' as shop (read_only)")
        con.execute("create schema build")
        n = con.execute("select count(*) from shop.build.customer_features").fetchone()[0]
        con.execute(f"""create table build.customer_features as
            select * replace (cast(copy * {n} + row_number() over (partition by copy order by customer_id) as varchar)
                              as customer_id)
            from shop.build.customer_features, range({-(-customers // n)}) as r(copy)
            order by copy, customer_id limit {customers}""")


def save_models(settings, folder: Path) -> dict[str, Path]:
    """Every family saved as the registry would hand it to the score step; the folders."""
    examples = steps.training_examples(settings)
    train = examples[examples["as_of"] < examples["as_of"].max()]
    gbm, clv = GbmModel.fit(train, directions=churn_risk()), ClvModel.fit(train)
    folders = {family: model.save(folder / family) for family, model in
               (("lightgbm", gbm), ("bg_nbd", clv), ("blend", BlendModel(gbm, clv)))}
    config = TrainConfig()
    tokenizer = AutoTokenizer.from_pretrained(config.base_model)
    prep = predictor.Preprocess.fit(numeric_matrix(train), train["future_spend"].to_numpy("float64"),
                                    config.max_length, config.hidden)
    prep.precisions = list(PRECISIONS)
    torch.manual_seed(0)
    model = CustomerModel(config.base_model, len(prep.numeric_mean), hidden=config.hidden)
    folders["transformer"] = predictor.save(model, tokenizer, prep, folder / "transformer")
    return folders


def load(family: str, folder: Path):
    return {"transformer": predictor.Predictor, "lightgbm": GbmModel, "bg_nbd": ClvModel,
            "blend": BlendModel}[family].load(folder)


def end_to_end(family: str, folders: dict[str, Path], db: Path, chunk_rows: int, queue) -> None:
    """The score step's path for one family; puts (customers/s, peak RSS GB, the precision
    chosen and every candidate's timing) on the queue."""
    model, explainer = load(family, folders[family]), Explainer(GbmModel.load(folders["lightgbm"]))
    total = warehouse.read_frame(db, "select count(*) as n from build.customer_features")["n"].iloc[0]
    out = db.with_name(f"scores_{family}.parquet")
    started = time.perf_counter()
    scoring.score_to_parquet(scoring.read_chunks(db, "build.customer_features", chunk_rows, 90), model, explainer,
                             out, {"model_family": family, "scored_at": warehouse.utc_now()}, total)
    warehouse.DuckDBWarehouse(db, db.with_name("analytics.duckdb")).stage_scores(out)
    seconds = time.perf_counter() - started
    choice = getattr(model, "choice", None)
    queue.put((total / seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
               None if choice is None else choice.precision, None if choice is None else choice.describe()))


def bare_forward(folder: Path, db: Path, precision: str, queue) -> None:
    """Forward passes only at `precision`, on pre-collated, length-sorted batches on the device."""
    scorer = predictor.Predictor(folder)
    frame = next(scoring.read_chunks(db, "build.customer_features", BARE_ROWS, 90))
    prepared = scorer.prepare(model_input(frame))
    batches = [collate(prepared.token_ids, rows, prepared.numeric, scorer.tokenizer.pad_token_id, scorer.device)
               for rows in length_buckets([len(t) for t in prepared.token_ids], scorer.batch_size)]
    # A first pass warms up: the int8 copy is made and each batch shape's kernels are set up
    # once, as the first chunk does for the chunks after it end to end.
    for inputs in batches:
        predictor.run_batch(scorer.variants, precision, inputs)
    sync(scorer.device)
    started = time.perf_counter()
    for inputs in batches:
        predictor.run_batch(scorer.variants, precision, inputs)
    sync(scorer.device)
    queue.put((len(frame) / (time.perf_counter() - started),))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def in_child(target, *args) -> tuple:
    """Run `target` in a fresh process (its own peak memory); what it put on its queue."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    process.join()
    if process.exitcode != 0:
        raise SystemExit(f"{target.__name__} failed (exit code {process.exitcode}); its traceback is above.")
    return queue.get()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, help="one size (default: 10,000 and 100,000)")
    parser.add_argument("--large", action="store_true", help="add 1,000,000 customers")
    parser.add_argument("--chunk-rows", type=int, default=20_000)
    parser.add_argument("--json", action="store_true", help="a JSON line per size for the transformer")
    parser.add_argument("--families", default=",".join(FAMILIES), help=f"comma-separated, of {', '.join(FAMILIES)}")
    args = parser.parse_args()
    sizes = [args.customers] if args.customers else [10_000, 100_000] + ([1_000_000] if args.large else [])
    work = Path(tempfile.mkdtemp(prefix="clm-score-bench-"))
    settings = build_shop(SHOP_CUSTOMERS, work)
    folders = save_models(settings, work / "models")
    device = pick_device()
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    setup = f"device: {name}; chunks of {args.chunk_rows:,} customers"
    print(setup)
    print(f"CPU: {report.cpu()['model']}; {report.flags()}")

    rows, lines = [], []
    for size in sizes:
        db = work / f"score_{size}.duckdb"
        make_warehouse(settings.warehouse, size, db)
        families = args.families.split(",")
        bare = ({precision: in_child(bare_forward, folders["transformer"], db, precision)[0]
                 for precision in supported(device)} if "transformer" in families else {})
        for family in families:
            rate, peak, precision, timings = in_child(end_to_end, family, folders, db, args.chunk_rows)
            if timings:
                print(f"{size:,} customers, {family}: precision {timings}")
            ratio = rate / bare[precision] if precision else None
            rows.append({"customers": size, "family": family, "precision": precision, "end to end /s": rate,
                         "bare forward /s": bare.get(precision), "ratio": ratio,
                         **{f"bare {p} /s": bare[p] if precision else None for p in bare},
                         "1M customers (min)": 1e6 / rate / 60, "peak RSS GB": peak})
            if precision:
                lines.append({"customers": size, "precision": precision, "end_to_end_per_s": round(rate, 1),
                              "bare_forward_per_s": {p: round(r, 1) for p, r in bare.items()},
                              "ratio": round(ratio, 3), "peak_rss_gb": round(peak, 2)})
        db.unlink()
    table = report.table(rows)
    print(table)
    report.write("scoring", "Scoring: end to end against the bare forward pass", table,
                 f"{setup[0].upper()}{setup[1:]}. Each family and each bare forward pass in a fresh process; "
                 "the ratio is end to end over the bare forward pass of the precision scoring chose, within this run. "
                 "MiniLM with fresh heads; the customers are a "
                 f"{SHOP_CUSTOMERS:,}-customer synthetic shop's features repeated with new ids.")
    if args.json:
        for line in lines:
            print(json.dumps(line))


if __name__ == "__main__":
    main()
