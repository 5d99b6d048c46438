"""Review sentiment for the feature build: every distinct review text scored once per model version.

The champion review classifier scores each text it has not scored yet into
`build.review_sentiment_staged`; dbt joins it to the reviews (the published `review_sentiment`)
and rolls it up into the customer features. Without a champion the lexicon scores every review.
"""

from __future__ import annotations

import mlflow
import pandas as pd

from ml.data.warehouse import BUILD, Warehouse

STAGED = f"{BUILD}.review_sentiment_staged"
COLUMNS = ["review_text", "negative", "neutral", "positive", "sentiment_label", "sentiment_score", "model_version"]


def score(texts: pd.Series, wh: Warehouse, name: str, version: str | None) -> dict:
    """Score the distinct review texts that version `version` of model `name` (the champion) has
    not scored yet into STAGED, keeping what it scored before; without a champion (None), drop
    it (the lexicon then scores every review)."""
    if version is None or texts.dropna().empty:
        wh.drop_table(STAGED)
        return {"model_version": version, "scored": 0, "texts": 0}
    staged = wh.rows(STAGED) if wh.has_table(STAGED) else 0
    kept = wh.read_frame(f"select {', '.join(COLUMNS)} from {STAGED} where model_version = ?", [int(version)]) \
        if staged else pd.DataFrame(columns=COLUMNS)
    known = set(kept["review_text"])
    new = [text for text in texts.dropna().unique().tolist() if text not in known]
    if new or staged > len(kept):  # texts to add, or another version's to drop
        parts = [kept] if len(kept) else []
        if new:
            model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
            scored = model.predict(pd.DataFrame({"review_text": new})).assign(review_text=new, model_version=int(version))
            parts.append(scored[COLUMNS])
        if parts:
            wh.write_table(STAGED, pd.concat(parts, ignore_index=True))
        else:
            wh.drop_table(STAGED)
    return {"model_version": version, "scored": len(new), "texts": len(kept) + len(new)}
