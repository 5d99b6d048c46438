"""The customer model in int8 as ONNX Runtime runs it: the fastest way found to score on a CPU.

Both torch and ONNX Runtime offer dynamic int8 (weights stored in int8, each layer's inputs
quantised on the fly, no calibration data). ONNX Runtime's kernels ran the customer model 1.3-1.6x
faster than torch's on the same CPU and batches (docs/decisions/0016-precision-chosen-by-measuring.md),
so whole-model int8, the one that scoring and the training's quality check run, is this one.
The model is exported (torch.onnx, dynamic batch and token length) and quantised when it is first
asked for, into a temporary folder that is gone once the session has loaded it: an exported
file would be one more thing to keep in step with the weights it came from.
"""

from __future__ import annotations

import copy
import logging
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from ml.models.networks import CustomerModel

INPUTS = ("input_ids", "attention_mask", "numeric")
# ONNX Runtime's int8 ran 680-720 rows/s in runs of 16-48 rows and 550-640 in runs of 64 (the
# batch torch's precisions run best at on a CPU) on 2 EPYC cores: a run's activations stay in cache.
ROWS_PER_RUN = 32


class _Raw(torch.nn.Module):
    """The customer model with its heads' outputs side by side: one tensor is what an ONNX graph returns."""

    def __init__(self, model: CustomerModel):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids, attention_mask, numeric).stacked()


class OnnxInt8:
    """`model` exported and quantised to int8, run by ONNX Runtime on the CPU with torch's thread count."""

    def __init__(self, model: CustomerModel, example: dict[str, torch.Tensor]):
        import onnxruntime
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with tempfile.TemporaryDirectory(prefix="clm-onnx-") as tmp, _quiet():
            exported, quantised = Path(tmp) / "model.onnx", Path(tmp) / "model.int8.onnx"
            # TorchScript's exporter: it exported in 1.8 s where torch.export's took 7, and its graph ran
            # 10-20% faster in ONNX Runtime (decision 0016).
            torch.onnx.export(_Raw(copy.deepcopy(model).cpu().eval()), tuple(example[name].cpu() for name in INPUTS),
                              str(exported), input_names=list(INPUTS), output_names=["raw"], dynamo=False,
                              dynamic_axes={"input_ids": {0: "rows", 1: "tokens"},
                                            "attention_mask": {0: "rows", 1: "tokens"}, "numeric": {0: "rows"}})
            quantize_dynamic(exported, quantised, weight_type=QuantType.QInt8)
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = torch.get_num_threads(), 1
            self.session = onnxruntime.InferenceSession(str(quantised), options, providers=["CPUExecutionProvider"])

    def __call__(self, batch: dict[str, torch.Tensor]) -> np.ndarray:
        """The heads' raw outputs (ml/models/networks.Outputs.stacked) for one collated batch,
        run ROWS_PER_RUN rows at a time."""
        arrays = {name: batch[name].cpu().numpy() for name in INPUTS}
        return np.concatenate([self.session.run(None, {name: array[start:start + ROWS_PER_RUN]
                                                       for name, array in arrays.items()})[0]
                               for start in range(0, len(arrays["numeric"]), ROWS_PER_RUN)])


@contextmanager
def _quiet():
    """Export and quantisation report each stage on stdout, warnings and the root logger; a
    scoring log wants one line for all of it (the precision note), so they are held back."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)
