"""The pipeline's steps, each a plain function the Airflow DAG calls and tests can call too.

Every step takes the run's scoring date and the settings, records its outcome as data
(ml/runstatus.py) and returns something small and JSON-serialisable, so Airflow can pass it
between tasks as an XCom.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import date
from pathlib import Path

import mlflow
import pandas as pd

from ml.actions import recommendations, review_sentiment, scoring
from ml.actions.reasons import Explainer
from ml.data import dbt_runner, warehouse
from ml.data.contract import RAW_TABLES
from ml.data.ingest import raw_row_counts
from ml.data.validate import validate_tables
from ml.models.baselines import BlendModel, GbmModel
from ml.models.clv import with_clv_features
from ml.models.features import model_input
from ml.models.networks import pick_device
from ml.runstatus import step
from ml.settings import Settings
from ml.training import registry, review_classifier, tracking
from ml.training.candidates import train_candidates
from ml.training.metrics import churn_metrics, order_metrics
from ml.training.transformer import TrainConfig

log = logging.getLogger(__name__)
RAW_SAMPLE_ROWS = 200_000


def training_examples(settings: Settings, cutoff: str | None = None) -> pd.DataFrame:
    """training_examples (of one cutoff when given) with the clv features, in a fixed order:
    seeded samples must pick the same rows on every run."""
    where = "where as_of = ?" if cutoff else ""
    examples = warehouse.read_frame(
        settings.warehouse, f"select * from {warehouse.BUILD}.training_examples {where} order by as_of, customer_id",
        [cutoff] if cutoff else None)
    return with_clv_features(examples, settings.horizon_days)


@step("check_raw", "Land data first: `clm ingest folder DIR` (or `clm ingest cdnow`).")
def check_raw(as_of: date, settings: Settings) -> dict[str, int]:
    """Fail early, with what to do, when no raw data has been landed; report what has."""
    counts = raw_row_counts(settings.raw_dir)
    if counts["orders"] == 0:
        raise ValueError(f"{settings.raw_dir}/orders.parquet has no rows; there is nothing to build features from.")
    return counts


@step("validate_raw", "Fix the export named in the message and land it again with `clm ingest folder DIR`.")
def validate_raw(as_of: date, settings: Settings) -> dict:
    """GX suites on the landed raw tables, on a sample: tolerances. Every row is checked against
    the contract's rules by the quarantine models during the dbt build."""
    frames = {f"raw_{name}": warehouse.sample_parquet(settings.raw_dir / f"{name}.parquet", RAW_SAMPLE_ROWS)
              for name in (t.name for t in RAW_TABLES)}
    return validate_tables(frames, settings.expectations_dir, settings.gx_root)


@step("train_sentiment", "See the review sentiment run in the MLflow UI (experiment clm); options: CLM_TRAIN_CONFIG.")
def train_sentiment(as_of: date, settings: Settings, config: TrainConfig | None = None) -> dict:
    """Fine-tune the review sentiment classifier on the stars of reviews written before
    as_of - H; the reviews since then judge it."""
    experiment = tracking.configure(settings)
    reviews = warehouse.raw_reviews(settings.raw_dir, as_of)
    cutoff = pd.Timestamp(as_of) - pd.Timedelta(days=settings.horizon_days)
    return review_classifier.train(reviews, cutoff, config or TrainConfig.from_json(settings.train_config, pick_device()),
                           experiment, settings.sentiment_model_name)


@step("score_reviews", "Promote another version of the review sentiment model in MLflow, or delete its champion alias "
                       "to fall back to the lexicon.")
def score_reviews(as_of: date, settings: Settings) -> dict:
    """Score every review text the sentiment champion has not scored yet, for the feature build."""
    tracking.configure(settings)
    texts = warehouse.raw_reviews(settings.raw_dir, as_of)["review_text"]
    with warehouse.connect(settings.warehouse) as con:
        return review_sentiment.score(texts, con, settings.sentiment_model_name,
                                      registry.champion_version(settings.sentiment_model_name))


@step("build_features", "The message names the dbt model or test and example rows; fix the input or the model.")
def build_features(as_of: date, settings: Settings) -> dict[str, dict]:
    return dbt_runner.build(dbt_runner.FEATURE_SELECTOR, as_of, settings)


@step("check_quarantine", "Fix the export: the rows are in build.quarantine_<table> with the rule each broke.")
def check_quarantine(as_of: date, settings: Settings) -> dict[str, dict[str, int]]:
    """Count quarantined raw rows per table and rule; fail when a table loses too many.

    A few bad rows are normal and are set aside; a large share means a broken export, and
    building on the rest would quietly mislead everyone downstream.
    """
    counts = warehouse.quarantine_counts(settings.warehouse)
    raw = raw_row_counts(settings.raw_dir)
    broken = []
    for table, rules in counts.items():
        share = sum(rules.values()) / raw[table] if raw[table] else 0.0
        if share > settings.max_quarantine_share:
            detail = ", ".join(
                f"{rule} {n:,} (e.g. {', '.join(warehouse.quarantine_examples(settings.warehouse, table, rule))})"
                for rule, n in sorted(rules.items(), key=lambda kv: -kv[1]))
            broken.append(f"{table}: {share:.1%} of {raw[table]:,} rows quarantined ({detail}); "
                          f"see {warehouse.BUILD}.quarantine_{table}")
    if broken:
        raise ValueError(
            f"Too much bad input (limit {settings.max_quarantine_share:.0%} per table, CLM_MAX_QUARANTINE_SHARE); "
            "nothing was published:\n  " + "\n  ".join(broken)
        )
    return counts


@step("validate_features", "The message names the column, the rule and example customer_ids; fix the input.")
def validate_features(as_of: date, settings: Settings) -> dict:
    frames = {name: warehouse.read_table(settings.warehouse, name) for name in ("customer_features", "training_examples")}
    return validate_tables(frames, settings.expectations_dir, settings.gx_root)


@step("evaluate_sentiment", "Compare the two in the published review_sentiment table (sentiment_label, lexicon_label).")
def evaluate_sentiment(as_of: date, settings: Settings) -> dict:
    """Macro-F1 of the classifier and of the lexicon against the stars, on the reviews written
    since the classifier's cutoff, logged to the classifier's MLflow run and version."""
    tracking.configure(settings)
    reviews = warehouse.read_table(settings.warehouse, "review_sentiment")
    return review_classifier.compare_with_lexicon(reviews, settings.sentiment_model_name)


@step("train", "See the training run in the MLflow UI (experiment clm); training options: CLM_TRAIN_CONFIG.")
def train_model(as_of: date, settings: Settings, config: TrainConfig | None = None) -> list[dict]:
    """Train every model family on the same split; each is logged to MLflow as a candidate.
    What they learnt from is remembered, for `training_examples_changed`."""
    experiment = tracking.configure(settings)
    learnt_from = warehouse.fingerprint(settings.warehouse, "training_examples")
    results = train_candidates(training_examples(settings),
                               config or TrainConfig.from_json(settings.train_config, pick_device()), experiment)
    trained_on(settings).write_text(json.dumps({"fingerprint": learnt_from, "as_of": as_of.isoformat()}))
    # XComs are JSON: an undefined metric (NaN, e.g. ROC-AUC on a one-class holdout) travels as None.
    return [{**asdict(r), "metrics": {k: (None if registry.undefined(v) else v) for k, v in r.metrics.items()}}
            for r in results]


def trained_on(settings: Settings) -> Path:
    return settings.home / "trained_on.json"


@step("training_examples_changed", "Nothing to do: the next training run reads the examples again.")
def training_examples_changed(as_of: date, settings: Settings) -> bool:
    """Whether training_examples differ from those the last training learnt from (a new cutoff's
    labels are complete, or late data changed old ones): then the training DAG should run."""
    path = trained_on(settings)
    last = json.loads(path.read_text())["fingerprint"] if path.exists() else None
    return warehouse.fingerprint(settings.warehouse, "training_examples") != last


@step("register", "See the version's tags in the MLflow UI (Models); `clm promote VERSION` moves the champion.")
def register_model(as_of: date, settings: Settings, candidates: list[dict]) -> list[dict]:
    """Register every candidate; the champion is re-scored on the candidates' holdout to compare."""
    tracking.configure(settings)
    champion_metrics = None
    if registry.champion_version(settings.model_name) is not None:
        holdout = training_examples(settings, candidates[0]["holdout_as_of"])
        champion = mlflow.pyfunc.load_model(f"models:/{settings.model_name}@{registry.CHAMPION}")
        scores = champion.predict(model_input(holdout))
        champion_metrics = {
            **churn_metrics(holdout["churned"].astype(int).to_numpy(), scores["churn_probability"].to_numpy()),
            **order_metrics(holdout["future_orders"].to_numpy("float64"), scores["expected_orders"].to_numpy("float64")),
        }
    registrations = registry.register_candidates(candidates, settings.model_name, champion_metrics,
                                                 settings.promotion_margin)
    return [asdict(r) for r in registrations]


@step("score", "Roll back to the previous champion with `clm rollback`, or promote a version: `clm promote VERSION`.")
def score_customers(as_of: date, settings: Settings) -> dict:
    """Score every customer in customer_features with the champion, into the build schema."""
    tracking.configure(settings)
    version = registry.champion_version(settings.model_name)
    if version is None:
        raise ValueError(
            f"{settings.model_name} has no champion to score with: {registry.why_no_champion(settings.model_name)} "
            "Promote a version by hand (`clm promote VERSION`) once you have looked at it in MLflow."
        )
    model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}/{version}")
    family = registry.family_of(settings.model_name, version)
    constants = {"horizon_days": settings.horizon_days, "model_name": settings.model_name,
                 "model_version": int(version), "model_family": family, "scored_at": warehouse.utc_now()}
    table = f"{warehouse.BUILD}.customer_features"
    total = warehouse.read_frame(settings.warehouse, f"select count(*) as n from {table}")["n"].iloc[0]
    out = settings.home / "tmp" / f"scores_{as_of}.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        scored = scoring.score_to_parquet(
            scoring.read_chunks(settings.warehouse, table, settings.score_chunk_rows, settings.horizon_days),
            model.unwrap_python_model().predictor, Explainer(churn_explainer(settings, model)), out, constants, total)
        rows = warehouse.stage_scores(settings.warehouse, out, as_of)
    finally:
        out.unlink(missing_ok=True)
    return {"rows": rows, "model_version": version, "model_family": family,
            "mean_churn_probability": scored.mean_churn_probability, "customers_per_second": scored.per_second}


@step("recommend", "The message says what failed; recommendations learn from build.customer_products.")
def recommend_products(as_of: date, settings: Settings) -> dict:
    """Top-K products for every customer, for the dbt model recommendations; the evaluation on
    the last H days (recall@K and NDCG@K against popularity) is logged to MLflow first."""
    purchases = warehouse.read_table(settings.warehouse, "customer_products")
    customers = warehouse.read_frame(settings.warehouse, f"select customer_id from {warehouse.BUILD}.customer_features")
    run_id = recommendations.log_evaluation(recommendations.evaluate(purchases), as_of.isoformat(), tracking.configure(settings))
    top_k = recommendations.Recommender.fit(purchases).recommend(customers["customer_id"]).assign(as_of=as_of)
    rows = warehouse.write_table(settings.warehouse, warehouse.RECOMMENDATIONS_STAGED, top_k)
    return {"rows": rows, "evaluation_run_id": run_id}


def churn_explainer(settings: Settings, champion) -> GbmModel:
    """The LightGBM model whose attributions explain the champion's churn scores: itself, the
    blend's LightGBM half, or else the registry's latest LightGBM candidate (ml/actions/reasons.py)."""
    predictor = champion.unwrap_python_model().predictor
    if isinstance(predictor, BlendModel):
        return predictor.gbm
    if isinstance(predictor, GbmModel):
        return predictor
    return mlflow.pyfunc.load_model(f"models:/{settings.model_name}@{GbmModel.family}").unwrap_python_model().predictor


@step("build_marts", "The message names the dbt model or test that failed and example rows.")
def build_marts(as_of: date, settings: Settings) -> dict[str, dict]:
    return dbt_runner.build(dbt_runner.MARTS_SELECTOR, as_of, settings)


@step("validate_marts", "The message names the column and rule; compare the champion with the last run's in MLflow. "
                        "A shop that really changed that much: raise CLM_MAX_CHURN_SHIFT for this run.")
def validate_marts(as_of: date, settings: Settings) -> dict:
    """GX on this run's scores, with the previous scoring date's mean churn probability as the
    drift reference (the run's own on a first run)."""
    scores = warehouse.read_frame(settings.warehouse,
                                  f"select * from {warehouse.BUILD}.{warehouse.SCORES} where as_of = ?", [as_of])
    previous = warehouse.read_frame(
        settings.warehouse,
        f"select avg(churn_probability) as mean from {warehouse.BUILD}.{warehouse.SCORES} "
        f"where as_of = (select max(as_of) from {warehouse.BUILD}.{warehouse.SCORES} where as_of < ?)", [as_of],
    )["mean"].iloc[0]
    reference = scores["churn_probability"].mean() if pd.isna(previous) else float(previous)
    shift = settings.max_churn_shift
    parameters = {"churn_mean_low": reference - shift, "churn_mean_high": reference + shift}
    return validate_tables({"customer_scores": scores}, settings.expectations_dir, settings.gx_root, parameters)


@step("publish", "Nothing analysts read changed; re-run the date once the message's cause is fixed.")
def publish(as_of: date, settings: Settings) -> dict[str, int]:
    return warehouse.publish(settings.warehouse, settings.analytics_db, as_of, dbt_runner.published_models(settings))
