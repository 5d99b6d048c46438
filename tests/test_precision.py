"""Choosing a precision by timing: the fastest candidate wins, each is timed on the same
batches, and int8 is a quantised copy that leaves the model as it was. Fast: `make check`."""

from __future__ import annotations

import time

import torch

from ml.models.precision import Variants, measure, quantized, supported

DELAY = {"fp32": 0.004, "bf16": 0.001, "int8": 0.002}


def test_the_fastest_candidate_is_chosen_after_every_batch_ran_untimed_once_under_each():
    calls = []

    def run(precision, batch):
        calls.append((precision, batch))
        time.sleep(DELAY[precision] * len(batch))

    choice = measure(run, [[1, 2], [3, 4, 5]], ["fp32", "bf16", "int8"], rows=len)
    assert choice.precision == "bf16" and set(choice.rates) == {"fp32", "bf16", "int8"}
    assert choice.rates["bf16"] > choice.rates["int8"] > choice.rates["fp32"]
    assert choice.describe("customers/s").startswith("bf16 (fp32 ")
    assert len(calls) == 2 * 3 * 2 and {precision for precision, _ in calls[:3]} == {"fp32", "bf16", "int8"}


def test_one_candidate_or_no_rows_is_not_timed():
    assert measure(lambda p, b: None, [[1]], ["fp32"], rows=len).rates == {}
    assert measure(lambda p, b: None, [], ["fp32", "bf16"], rows=len).precision == "fp32"


def test_int8_is_a_quantised_copy_and_cuda_offers_no_int8():
    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    variants = Variants(model, torch.device("cpu"))
    int8 = variants.module("int8")
    assert variants.module("int8") is int8 and variants.module("bf16") is model
    assert isinstance(model[0], torch.nn.Linear) and type(int8[0]) is not torch.nn.Linear
    x = torch.randn(16, 8)
    assert torch.allclose(int8(x), model(x), atol=0.05)
    assert quantized(model) is not model
    assert supported(torch.device("cuda")) == ("fp32", "bf16")
    assert supported(torch.device("cpu")) == ("fp32", "bf16", "int8")
