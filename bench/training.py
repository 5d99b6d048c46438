"""Training benchmark: samples per second of the customer model's fine-tuning, by precision.

On a CPU the encoder's lower layers are frozen, so training runs them once per row and then
trains the top layers and heads on the cached token states (`Batches.cache` and the loop of
ml/training/finetune.py). This bench times each part at every precision the device runs, on
the same training examples (a synthetic shop run through the dbt project) and the same weights:

* `frozen layers, once per row`: the lower layers in inference mode at fp32, bf16 autocast and
  int8 (what `Batches.cache` times on a few batches to choose);
* `top layers on cached states`: one epoch of the pipeline's loop (collation, multi-task loss,
  clipping, AdamW, each step's loss logged to MLflow in a SQLite store) at fp32 and bf16;
* `whole encoder per step`: the same loop without the cache, as training ran before it.

It prints the CPU's flags and what one pass over every row of a training set the size of
CDNOW's (71,308 rows) would take each way, and writes docs/benchmarks/training.md (bench/report.py).

    python bench/training.py --customers 3000 --batches 30
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import mlflow
import report
import torch
from shop import build_shop
from transformers import AutoTokenizer

from ml.models import predictor
from ml.models.features import numeric_matrix
from ml.models.networks import pick_device
from ml.models.precision import BF16, FP32, Variants, supported
from ml.run import steps
from ml.training.config import TrainConfig
from ml.training.finetune import finetune
from ml.training.transformer import Batches, build_model, frozen_layers

CDNOW_ROWS = 71_308


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--batches", type=int, default=30, help="training steps timed per loop")
    args = parser.parse_args()
    device = pick_device()
    # The CPU configuration (two layers learn) on every device: the cache is what is measured.
    config = TrainConfig(trainable_layers=TrainConfig().trainable_layers)
    examples = steps.training_examples(build_shop(args.customers, Path(tempfile.mkdtemp(prefix="clm-train-bench-"))))
    examples = examples.sample(min(len(examples), args.batches * config.batch_size), random_state=0).reset_index(drop=True)
    tokenizer = AutoTokenizer.from_pretrained(config.base_model)
    prep = predictor.Preprocess.fit(numeric_matrix(examples), examples["future_spend"].to_numpy("float64"),
                                    config.max_length, config.hidden)
    data = Batches.of(examples, tokenizer, prep)
    samples = len(data.token_ids)
    mlflow.set_tracking_uri(f"sqlite:///{tempfile.mkdtemp(prefix='clm-train-bench-mlflow-')}/mlflow.db")

    def fresh():
        torch.manual_seed(0)
        return build_model(config, len(prep.numeric_mean), device)

    def one_epoch(precision: str, cached: bool) -> float:
        model = fresh()
        if cached:
            data.cache(Variants(model, device), frozen_layers(model, config), config.batch_size * 2, candidates=(FP32,))
        else:
            data.cached = None
        stats = finetune(model, data, dataclasses.replace(config, train_precision=precision), device, epochs=1,
                         minutes=None)
        return stats.samples_per_second

    rows = []
    with mlflow.start_run():
        one_epoch(FP32, cached=True)  # warm-up: kernels, allocator, the MLflow store's tables
        model = fresh()
        frozen, variants = frozen_layers(model, config), Variants(model, device)
        for precision in supported(device):
            started = time.perf_counter()
            data.cache(variants, frozen, config.batch_size * 2, candidates=(precision,))
            rows.append({"part": f"frozen layers ({frozen} of 6), once per row", "precision": precision,
                         "samples/s": samples / (time.perf_counter() - started)})
        for precision in (FP32, BF16):
            rows.append({"part": "top layers on cached states, per step", "precision": precision,
                         "samples/s": one_epoch(precision, cached=True)})
        for precision in (FP32, BF16):
            rows.append({"part": "whole encoder per step (before the cache)", "precision": precision,
                         "samples/s": one_epoch(precision, cached=False)})

    best = {part: max(r["samples/s"] for r in rows if r["part"] == part) for part in dict.fromkeys(r["part"] for r in rows)}
    frozen_rate, top_rate, whole_rate = best.values()
    cached_minutes = CDNOW_ROWS * (1 / frozen_rate + 1 / top_rate) / 60
    whole_minutes = CDNOW_ROWS / whole_rate / 60
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    summary = (f"One pass over {CDNOW_ROWS:,} rows (CDNOW's training split) at the fastest precision of each part: "
               f"{cached_minutes:.1f} min with the cache (the frozen layers once, then the top layers), "
               f"{whole_minutes:.1f} min running the whole encoder per step.")
    table = report.table(rows)
    print(f"device: {name}; batch size {config.batch_size}; {samples} samples")
    print(f"CPU: {report.cpu()['model']}; {report.flags()}")
    print(table)
    print(summary)
    report.write("training", "Training: samples per second by precision, with and without the cache", table,
                 f"Device: {name}; batch size {config.batch_size}; {config.max_length}-token renderings; {samples} "
                 f"samples of a {args.customers:,}-customer synthetic shop. {summary}")


if __name__ == "__main__":
    main()
