"""Review sentiment for the feature build: every distinct review text scored once per model version.

The champion review classifier scores each text it has not scored yet into
`build.review_sentiment_staged`; dbt joins it to the reviews (the published `review_sentiment`)
and rolls it up into the customer features. Without a champion the lexicon scores every review.
"""

from __future__ import annotations

import mlflow
import pandas as pd

from ml.data.warehouse import BUILD

STAGED = f"{BUILD}.review_sentiment_staged"
STAGED_COLUMNS = ("review_text varchar, negative double, neutral double, positive double, "
                  "sentiment_label varchar, sentiment_score double, model_version integer")


def score(texts: pd.Series, con, name: str, version: str | None) -> dict:
    """Score the distinct review texts that version `version` of model `name` (the champion) has
    not scored yet into STAGED; without a champion (None), empty it (the lexicon then scores
    every review)."""
    con.execute(f"create schema if not exists {BUILD}")
    con.execute(f"create table if not exists {STAGED} ({STAGED_COLUMNS})")
    if version is None:
        con.execute(f"delete from {STAGED}")
        return {"model_version": None, "scored": 0, "texts": 0}
    con.execute(f"delete from {STAGED} where model_version <> ?", [int(version)])
    known = {row[0] for row in con.execute(f"select review_text from {STAGED}").fetchall()}
    new = [text for text in texts.dropna().unique().tolist() if text not in known]
    if new:
        model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
        scored = model.predict(pd.DataFrame({"review_text": new})).assign(review_text=new, model_version=int(version))
        con.register("scored_frame", scored)
        con.execute(f"insert into {STAGED} by name select * from scored_frame")
    total = con.execute(f"select count(*) from {STAGED}").fetchone()[0]
    return {"model_version": version, "scored": len(new), "texts": total}
