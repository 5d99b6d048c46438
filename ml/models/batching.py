"""Turning rows into model batches: tokenise, bucket by length, pad, and pick the precision.

Training and scoring batch the same way, so both live here.
"""

from __future__ import annotations

from contextlib import nullcontext
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import PreTrainedTokenizerBase

from ml.models.features import render_text

CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True on CPUs with native bf16 matrix instructions (AVX512-BF16 or AMX): there bf16 runs
    MiniLM faster than fp32; elsewhere bf16 is emulated and slower
    (docs/decisions/0010-bf16-on-cpus-with-native-bf16.md)."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return False
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.read_text().splitlines()
                  if line.startswith("flags")), [])
    return any(flag in flags for flag in CPU_BF16_FLAGS)


def uses_bf16(device: torch.device) -> bool:
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16())


def autocast(device: torch.device, bf16: bool | None = None):
    """bf16 autocast on CUDA and on CPUs with native bf16 (or as `bf16` says); full precision elsewhere."""
    on = uses_bf16(device) if bf16 is None else bf16
    return torch.autocast(device.type, dtype=torch.bfloat16) if on else nullcontext()


def tokenize(tokenizer: PreTrainedTokenizerBase, frame: pd.DataFrame, max_length: int, rendering: int) -> list[list[int]]:
    return tokenizer(render_text(frame, rendering), truncation=True, max_length=max_length)["input_ids"]


def length_buckets(lengths: list[int], batch_size: int) -> list[np.ndarray]:
    """Batches of similar token length, so dynamic padding pads little."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def pad(token_ids: list[list[int]], rows: np.ndarray, pad_id: int, device: torch.device) -> dict[str, torch.Tensor]:
    """The rows' token ids padded to the longest of them, with the attention mask."""
    width = max(len(token_ids[i]) for i in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for j, i in enumerate(rows):
        ids[j, : len(token_ids[i])] = torch.tensor(token_ids[i])
        mask[j, : len(token_ids[i])] = 1
    return {"input_ids": ids.to(device, non_blocking=True), "attention_mask": mask.to(device, non_blocking=True)}


def collate(token_ids: list[list[int]], rows: np.ndarray, numeric: np.ndarray, pad_id: int,
            device: torch.device) -> dict[str, torch.Tensor]:
    return {**pad(token_ids, rows, pad_id, device),
            "numeric": torch.from_numpy(numeric[rows]).to(device, non_blocking=True)}
