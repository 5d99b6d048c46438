"""Training-loop benchmark: our loop against a bare forward+backward loop on the same batches.

Both train the same model from the same weights on the same training examples (a synthetic
shop run through the dbt project). `ours` is the pipeline's own path: text rendering and
tokenisation (`Batches.of`), then one epoch of the fine-tuning loop (`finetune` in
ml/training/finetune.py: length-bucketed batches, dynamic padding, collation, multi-task loss,
clipping, AdamW, each step's loss logged to MLflow, here a SQLite store in a temporary folder as
in the pipeline). `bare` gets every batch pre-collated on the device and only runs forward,
loss, backward, clipping and the optimiser step. The gap is data handling and logging. Run it
on CPU and on a CUDA machine (bf16 autocast there); samples/second printed and written to
docs/benchmarks/training.md (bench/report.py).

    python bench/training.py --customers 3000 --batches 30
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import mlflow
import pandas as pd
import report
import torch
from shop import build_shop
from transformers import AutoTokenizer

from ml.models import predictor
from ml.models.batching import autocast, collate, length_buckets, uses_bf16
from ml.models.features import numeric_matrix
from ml.models.networks import pick_device
from ml.run import steps
from ml.training.config import TrainConfig
from ml.training.finetune import finetune, make_optimizer
from ml.training.transformer import Batches, build_model, multitask_loss


def training_examples(customers: int, work: Path) -> pd.DataFrame:
    return steps.training_examples(build_shop(customers, work))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--batches", type=int, default=30, help="training steps timed per loop")
    parser.add_argument("--batch-size", type=int, default=None)
    args = parser.parse_args()
    device = pick_device()
    config = TrainConfig.for_device(device, **({"batch_size": args.batch_size} if args.batch_size else {}))
    examples = training_examples(args.customers, Path(tempfile.mkdtemp(prefix="clm-train-bench-")))
    examples = examples.sample(min(len(examples), args.batches * config.batch_size), random_state=0).reset_index(drop=True)
    tokenizer = AutoTokenizer.from_pretrained(config.base_model)
    prep = predictor.Preprocess.fit(numeric_matrix(examples), examples["future_spend"].to_numpy("float64"),
                                    config.max_length, config.hidden)

    def fresh():
        torch.manual_seed(0)
        model = build_model(config, len(prep.numeric_mean), device)
        return model, make_optimizer(model, config)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    # Warm-up (kernels, allocator, the MLflow store's tables) outside the timings.
    mlflow.set_tracking_uri(f"sqlite:///{tempfile.mkdtemp(prefix='clm-train-bench-mlflow-')}/mlflow.db")
    mlflow.start_run()
    model, _ = fresh()
    finetune(model, Batches.of(examples.head(config.batch_size * 2), tokenizer, prep), config, device, epochs=1,
             minutes=None)

    model, _ = fresh()
    sync()
    start = time.perf_counter()
    data = Batches.of(examples, tokenizer, prep)
    finetune(model, data, config, device, epochs=1, minutes=None)
    sync()
    ours = time.perf_counter() - start
    mlflow.end_run()
    samples = len(data.token_ids)
    steps = length_buckets([len(t) for t in data.token_ids], config.batch_size)

    model, optimizer = fresh()
    prepared = [(collate(data.token_ids, rows, data.numeric, tokenizer.pad_token_id, device), rows)
                for rows in steps]
    targets = {k: v.to(device) for k, v in data.targets.items()}
    sync()
    start = time.perf_counter()
    model.train()
    for inputs, rows in prepared:
        with autocast(device):
            out = model(**inputs)
        multitask_loss(out, targets, rows, device).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    sync()
    bare = time.perf_counter() - start

    name = torch.cuda.get_device_name() if device.type == "cuda" else f"cpu x{torch.get_num_threads()} threads"
    print(f"device: {name}; batch size {config.batch_size}; {len(steps)} steps; {samples} samples")
    print(f"ours (render + tokenise + collate + train): {samples / ours:8.1f} samples/s  ({ours:.2f} s)")
    print(f"bare forward+backward+step:                 {samples / bare:8.1f} samples/s  ({bare:.2f} s)")
    print(f"ratio ours/bare throughput: {bare / ours:.2f}  (data handling and logging are {100 * (ours - bare) / ours:.1f}% of our time)")
    report.write("training", "Training loop: ours against a bare forward+backward loop", report.table([
        {"loop": "ours (render + tokenise + collate + train)", "samples/s": samples / ours, "s": ours},
        {"loop": "bare forward+backward+step", "samples/s": samples / bare, "s": bare}]),
        f"Device: {name}; {'bf16' if uses_bf16(device) else 'fp32'}; batch size {config.batch_size}; "
        f"{config.max_length}-token renderings; {len(steps)} steps, {samples} samples. Ratio ours/bare throughput "
        f"{bare / ours:.2f}: data handling and logging are {100 * (ours - bare) / ours:.1f}% of our time.")


if __name__ == "__main__":
    main()
