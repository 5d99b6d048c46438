"""Text scores for the feature build: every distinct text scored once per model version.

A champion text classifier scores each text it has not scored yet into a table of the build
schema, keeping what it scored before; dbt joins it to the rows the texts came from:

- the review sentiment classifier scores review texts into `review_sentiment_staged` and ticket
  texts into `ticket_sentiment_staged` (without a champion dbt's lexicon scores both);
- the ticket intent classifier scores ticket texts into `ticket_intents_staged` (without a
  champion the keyword rules of ml/models/intent_keywords.py name every ticket's intent).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mlflow
import pandas as pd

from ml.data.warehouse import BUILD, Warehouse
from ml.models import intent_keywords


@dataclass(frozen=True)
class Staged:
    """Where a model's scores of texts are kept: the table, its text column, the column the
    model reads the text from and the columns of its output kept there."""

    table: str
    text_column: str
    model_input: str
    outputs: tuple[str, ...]

    @property
    def columns(self) -> list[str]:
        return [self.text_column, *self.outputs, "model_version"]


SENTIMENT_OUTPUTS = ("negative", "neutral", "positive", "sentiment_label", "sentiment_score")
REVIEW_SENTIMENT = Staged(f"{BUILD}.review_sentiment_staged", "review_text", "review_text", SENTIMENT_OUTPUTS)
TICKET_SENTIMENT = Staged(f"{BUILD}.ticket_sentiment_staged", "text", "review_text", SENTIMENT_OUTPUTS)
TICKET_INTENTS = Staged(f"{BUILD}.ticket_intents_staged", "text", "text", ("intent", "confidence"))


def keyword_intents(texts: list[str]) -> pd.DataFrame:
    """The keyword rules' intent of each text, in TICKET_INTENTS' columns: no confidence, no version."""
    return pd.DataFrame({"text": texts, "intent": intent_keywords.intents(texts), "confidence": float("nan"),
                         "model_version": pd.array([None] * len(texts), dtype="Int64")})


def score(texts: pd.Series, wh: Warehouse, staged: Staged, name: str, version: str | None,
          fallback: Callable[[list[str]], pd.DataFrame] | None = None) -> dict:
    """Score the distinct `texts` that version `version` of model `name` (the champion) has not
    scored yet into `staged`, keeping what it scored before. Without a champion (None) every
    text gets `fallback`'s scores, or, without one, the table is dropped (dbt's lexicon then
    scores every text)."""
    distinct = texts.dropna().unique().tolist()
    if version is None or not distinct:
        if fallback is None or not distinct:
            wh.drop_table(staged.table)
            return {"model_version": version, "scored": 0, "texts": 0}
        wh.write_table(staged.table, fallback(distinct)[staged.columns])
        return {"model_version": None, "scored": len(distinct), "texts": len(distinct)}
    has_table = wh.has_table(staged.table)
    columns = ", ".join(staged.columns)
    kept = wh.read_frame(f"select {columns} from {staged.table} where model_version = ?", [int(version)]) \
        if has_table else pd.DataFrame(columns=staged.columns)
    known = set(kept[staged.text_column])
    new = [text for text in distinct if text not in known]
    if new or (has_table and wh.rows(staged.table) > len(kept)):  # texts to add, or another version's to drop
        parts = [kept] if len(kept) else []
        if new:
            model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
            scored = model.predict(pd.DataFrame({staged.model_input: new}))
            parts.append(scored.assign(**{staged.text_column: new}, model_version=int(version))[staged.columns])
        if parts:
            wh.write_table(staged.table, pd.concat(parts, ignore_index=True))
        else:
            wh.drop_table(staged.table)
    return {"model_version": version, "scored": len(new), "texts": len(kept) + len(new)}
