"""Choosing a precision by timing: the fastest candidate wins, each is timed on the same
batches, and int8 is a quantised copy that leaves the model as it was; the customer model's
int8 runs in ONNX Runtime on any batch shape. All but the last (it exports MiniLM) run in
`make check`."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from ml.models.networks import CustomerModel, default_base_model
from ml.models.precision import Choice, Variants, measure, quantized, supported, untimed
from ml.models.predictor import ModelVariants, run_batch

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


def test_one_candidate_or_no_rows_is_not_timed_and_an_untimed_choice_says_why():
    assert measure(lambda p, b: None, [[1]], ["fp32"], rows=len).rates == {}
    assert measure(lambda p, b: None, [], ["fp32", "bf16"], rows=len).precision == "fp32"
    assert Choice("fp32", {}).describe() == "fp32"
    assert Choice("fp32", {}, "not timed: 12 customers").describe() == "fp32 (not timed: 12 customers)"
    assert untimed(4_999, "reviews").describe() == "fp32 (not timed: 4,999 reviews, fewer than the 5,000 that timing pays for)"
    assert untimed(5_000, "reviews") is None and untimed(3, "rows", minimum=0) is None


def test_each_precision_has_its_copy_and_bf16s_computes_what_autocast_would():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    variants = Variants(model, torch.device("cpu"))
    int8 = variants.module("int8")
    assert variants.module("int8") is int8 and variants.module("fp32") is model
    assert isinstance(model[0], torch.nn.Linear) and type(int8[0]) is not torch.nn.Linear
    x = torch.randn(16, 8)
    assert torch.allclose(int8(x), model(x), atol=0.05)
    assert quantized(model) is not model
    # bf16: the Linear layers' weights cast once, every other tensor shared with the model.
    normed = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
    variants = Variants(normed, torch.device("cpu"))
    bf16 = variants.module("bf16")
    assert variants.module("bf16") is bf16 and bf16[0] is not normed[0] and bf16[1].weight is normed[1].weight
    assert bf16[0].weight.dtype == bf16[2].bias.dtype == torch.bfloat16 and normed[0].weight.dtype == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(bf16(x), normed(x))
    assert supported(torch.device("cuda")) == ("fp32", "bf16")
    assert supported(torch.device("cpu")) == ("fp32", "bf16", "int8")


@pytest.mark.slow
def test_the_customer_models_int8_runs_in_onnx_runtime_on_any_batch_shape_close_to_fp32():
    torch.manual_seed(0)
    variants = ModelVariants(CustomerModel(default_base_model(), 4).eval(), torch.device("cpu"))
    # 40 rows (more than one ONNX Runtime run of 32) of 3 to 20 tokens, padded.
    ids = torch.randint(1_000, 20_000, (40, 20))
    mask = (torch.arange(20)[None, :] < torch.linspace(3, 20, 40).round()[:, None]).long()
    mixed = {"input_ids": ids * mask, "attention_mask": mask, "numeric": torch.randn(40, 4)}
    one = {"input_ids": ids[:1, :7], "attention_mask": mask[:1, :7], "numeric": torch.randn(1, 4)}
    for batch in (one, mixed):
        int8, fp32 = run_batch(variants, "int8", batch), run_batch(variants, "fp32", batch)
        assert int8.shape == fp32.shape == (len(batch["numeric"]), 9)
        assert np.abs(int8 - fp32).max() < 0.1 and not np.array_equal(int8, fp32)
    assert type(variants.onnx).__name__ == "OnnxInt8"
