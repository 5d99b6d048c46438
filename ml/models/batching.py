"""Turning rows into model batches: tokenise, bucket by length and pad.

Training and scoring batch the same way, so both live here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from transformers import PreTrainedTokenizerBase

from ml.models.features import render_text


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


def spread(items: list, count: int) -> list:
    """Up to `count` of `items`, evenly spaced from the first to the last: batches from the
    shortest to the longest, for timing."""
    if not items:
        return []
    return [items[i] for i in np.unique(np.linspace(0, len(items) - 1, count).round().astype(int))]
