"""The support ticket intent classifier: the shared text classifier (ml/training/text_classifier.py)
fine-tuned on the tickets the help desk labelled, judged by macro-F1 on the later labelled
tickets beside the keyword rules (ml/models/intent_keywords.py), which give the intent while
no classifier has been trained.
"""

from __future__ import annotations

import pandas as pd

from ml.data.contract import ticket_intents
from ml.models import intent_keywords
from ml.models.pyfunc import TicketIntentPyfunc, intent_signature
from ml.training.config import TrainConfig
from ml.training.text_classifier import TextTask
from ml.training.text_classifier import train as train_text

INTENTS = ticket_intents()
TICKETS = TextTask(
    name="ticket_intent", noun="tickets", labels=INTENTS, text_column="text", time_column="created_at",
    label_of=lambda tickets: pd.Index(INTENTS).get_indexer(tickets["intent"]),
    pyfunc=TicketIntentPyfunc, signature=intent_signature(INTENTS), predicted_column="intent",
    min_texts=100, without="The keyword rules give the tickets' intent.",
)


def train(tickets: pd.DataFrame, cutoff: pd.Timestamp, config: TrainConfig, experiment: str, name: str) -> dict:
    """Fine-tune on the labelled tickets before `cutoff`, judge on those after beside the
    keyword rules, register (ml/training/text_classifier.py)."""
    return train_text(TICKETS, tickets, cutoff, config, experiment, name, baseline=("keyword", intent_keywords.intents))
