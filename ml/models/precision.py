"""The number format the encoder runs in, chosen by timing each one on this machine.

CPUs of one kind differ: bf16 autocast ran MiniLM 3.2x faster than fp32 on one CPU with
avx512_bf16 and 0.75x as fast on another reporting the same flag; int8 (dynamic quantisation of
every Linear layer) ran 2-3x faster than fp32 on both. No flag says which wins, so training and
scoring time a few batches of each candidate and take the fastest
(docs/decisions/0016-precision-chosen-by-measuring.md). Which candidates keep the model's
quality is judged once, at training, against fp32 on the holdout (ml/training/transformer.py);
the saved model lists them.

int8 comes in two runtimes. The whole customer model, as scoring and the quality check run it,
is exported and run by ONNX Runtime (ml/models/onnx_int8.py, 1.3-1.6x torch's int8 on the same
CPU); part of a model, such as the frozen layers training runs once per row, is torch's
dynamically quantised copy (`Variants.module`).
"""

from __future__ import annotations

import copy
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)

FP32, BF16, INT8 = "fp32", "bf16", "int8"
PRECISIONS = (FP32, BF16, INT8)
# Below this many rows a pass runs at fp32 without timing: timing (six batches twice under each
# candidate) and making the int8 model take 10-20 s on 2 cores, more than int8 saves on fewer rows.
MIN_TIMED_ROWS = 5_000


def supported(device: torch.device) -> tuple[str, ...]:
    """The candidates `device` can run: int8 kernels (fbgemm, VNNI where the CPU has it) are CPU-only."""
    return (FP32, BF16) if device.type == "cuda" else PRECISIONS


def autocast(device: torch.device, precision: str):
    """bf16 autocast for BF16; int8 and fp32 run as the module is."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if precision == BF16 else nullcontext()


def bf16_linear(module: torch.nn.Module) -> torch.nn.Module:
    """A copy of `module` whose Linear layers hold bf16 weights and biases, sharing every other
    tensor with it. bf16 autocast casts a Linear layer's weights on every pass and drops the casts
    when the pass ends; run under autocast, this copy computes the same numbers without them
    (MiniLM's pass on 48 messages: 62 ms with the casts, 46 ms without, 2 cores with AMX)."""
    shared: dict[int, object] = {}
    for layer in module.modules():
        for parameter in layer.parameters(recurse=False):
            shared[id(parameter)] = (torch.nn.Parameter(parameter.detach().to(torch.bfloat16), requires_grad=False)
                                     if isinstance(layer, torch.nn.Linear) else parameter)
        for buffer in layer.buffers(recurse=False):
            shared[id(buffer)] = buffer
    return copy.deepcopy(module, shared)


def quantized(module: torch.nn.Module) -> torch.nn.Module:
    """A copy of `module` whose Linear layers hold int8 weights and quantise their inputs on the
    fly (torch's dynamic quantisation): the cheap int8 that needs no calibration data."""
    with warnings.catch_warnings():
        # torch 2.13 points to torchao for new code; these kernels are the ones it still ships.
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(module).cpu().eval(), {torch.nn.Linear},
                                                      dtype=torch.qint8)


class Variants:
    """A model at each precision it is asked for: itself for fp32, a copy with bf16 Linear
    weights for bf16 (run under autocast) and an int8 copy, each made on first use and kept, so
    a new Variants is needed once the weights change (training makes one for its frozen layers
    before fitting and another for the fitted model)."""

    def __init__(self, model: torch.nn.Module, device: torch.device):
        self.model, self.device = model, device
        self._copies: dict[str, torch.nn.Module] = {}

    def device_of(self, precision: str) -> torch.device:
        """Where inputs go for `precision`: the int8 copy lives on the CPU."""
        return torch.device("cpu") if precision == INT8 else self.device

    def module(self, precision: str) -> torch.nn.Module:
        if precision not in self._copies:
            if precision == FP32:
                return self.model
            self._copies[precision] = bf16_linear(self.model) if precision == BF16 else quantized(self.model)
        return self._copies[precision]

    def replace(self, precision: str, module: torch.nn.Module) -> None:
        """Run `module` (the same model compiled, say) for `precision` from now on."""
        self._copies[precision] = module


@dataclass
class Choice:
    """The precision chosen and the rows per second every candidate ran at, or why none was timed."""

    precision: str
    rates: dict[str, float]
    untimed_because: str = ""

    def describe(self, unit: str = "rows/s") -> str:
        """"int8 (fp32 145, bf16 461, int8 430 rows/s)"; the precision alone, or with why it was
        not timed, where none was."""
        timings = ", ".join(f"{p} {rate:,.0f}" for p, rate in self.rates.items())
        if timings:
            return f"{self.precision} ({timings} {unit})"
        return f"{self.precision} ({self.untimed_because})" if self.untimed_because else self.precision


def untimed(rows: int, noun: str, minimum: int = MIN_TIMED_ROWS) -> Choice | None:
    """fp32, not timed, where `rows` (of `noun`) are fewer than `minimum`, the rows timing pays
    for; None where there are enough to time the candidates."""
    if rows >= minimum:
        return None
    return Choice(FP32, {}, f"not timed: {rows:,} {noun}, fewer than the {minimum:,} that timing pays for")


def measure(run: Callable[[str, object], object], batches: Sequence, candidates: Sequence[str],
            rows: Callable[[object], int]) -> Choice:
    """Time `run(precision, batch)` for every candidate on the same `batches` and choose the
    fastest. Each batch runs once untimed under every candidate first (the int8 copy is made
    and the batch shape's kernels set up, which later batches of that shape no longer pay),
    then once timed under each, so a noisy second on a shared machine falls on all alike."""
    candidates = list(candidates)
    if len(candidates) == 1 or not batches:
        return Choice(candidates[0], {})
    seconds = dict.fromkeys(candidates, 0.0)
    for batch in batches:
        for precision in candidates:
            run(precision, batch)
        for precision in candidates:
            started = time.perf_counter()
            run(precision, batch)
            seconds[precision] += time.perf_counter() - started
    timed = sum(rows(batch) for batch in batches)
    rates = {p: timed / max(s, 1e-9) for p, s in seconds.items()}
    return Choice(max(rates, key=rates.get), rates)
