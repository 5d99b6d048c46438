"""The pipeline's steps, each a plain function the Airflow DAGs call and tests can call too.

Every step takes the run's scoring date and the settings, records its outcome as data
(ml/runstatus.py) and returns something small and JSON-serialisable, so Airflow can pass it
between tasks as an XCom. A step declares how Airflow runs it (`@step`): its task is named
after the function, and the DAGs' task tables are made from its docstring's first paragraph
and its `if_it_fails` (ml/run/orchestration.py).

The DAG files import this module every time Airflow parses them, so it imports the wings
inside each step, where the work is: at the top it would cost seconds of torch and MLflow at
every parse.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ml import runstatus
from ml.run.lock import LEASE_WAIT
from ml.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

    from ml.training.config import TrainConfig

log = logging.getLogger(__name__)
RAW_SAMPLE_ROWS = 200_000


@dataclass(frozen=True)
class Declaration:
    """How Airflow runs a step and what the DAG's task table says of it. Deterministic steps
    (checks, dbt, validation) do not retry: the same input fails the same way. Steps that touch
    the MLflow store or load models retry once, for transient faults."""

    name: str
    does: str
    if_it_fails: str
    timeout: timedelta
    retries: int


def step(if_it_fails: str, timeout: timedelta, retries: int = 0) -> Callable[[Callable], Callable]:
    """Declare a pipeline step: its outcome is recorded under its own name (ml/runstatus.py),
    with `if_it_fails` as what to do, and its task runs with this timeout and these retries."""
    def declare(fn: Callable) -> Callable:
        recorded = runstatus.step(fn.__name__, if_it_fails)(fn)
        does = inspect.cleandoc(fn.__doc__ or "").split("\n\n")[0].replace("\n", " ")
        recorded.declaration = Declaration(fn.__name__, does, if_it_fails, timeout, retries)
        return recorded
    return declare


def training_examples(settings: Settings, cutoff: str | None = None) -> pd.DataFrame:
    """training_examples (of one cutoff when given) with the clv features, in a fixed order:
    seeded samples must pick the same rows on every run."""
    from ml.data import warehouse
    from ml.models.clv import with_clv_features

    where = "where as_of = ?" if cutoff else ""
    with warehouse.opened(settings) as wh:
        examples = wh.read_frame(f"select * from {warehouse.BUILD}.training_examples {where} order by as_of, customer_id",
                                 [cutoff] if cutoff else None)
    return with_clv_features(examples, settings.horizon_days)


def train_config(settings: Settings) -> TrainConfig:
    """The training knobs: the device's defaults, overridden by CLM_TRAIN_CONFIG's file."""
    from ml.models.networks import pick_device
    from ml.training.config import TrainConfig

    return TrainConfig.from_json(settings.train_config, pick_device())


@step("Land data first: `clm ingest folder DIR` (or `clm ingest cdnow`).", LEASE_WAIT + timedelta(minutes=5))
def check_raw(as_of: date, settings: Settings) -> dict[str, int]:
    """A scheduled run first waits (up to 6 h) while another run or a `clm` command holds
    CLM_HOME; then: the landed raw tables exist and `orders` has rows.

    It fails early, with what to do, when no raw data has been landed, and reports what has."""
    from ml.data.ingest import complete_landing, raw_row_counts

    if added := complete_landing(settings.raw_dir):
        log.info("landed empty %s: the contract gained these optional tables and columns since the data were "
                 "landed", ", ".join(added))
    counts = raw_row_counts(settings.raw_dir)
    if counts["orders"] == 0:
        raise ValueError(f"{settings.raw_dir}/orders.parquet has no rows; there is nothing to build features from.")
    return counts


@step("Fix the export named in the message and land it again with `clm ingest folder DIR`.", timedelta(minutes=30))
def validate_raw(as_of: date, settings: Settings) -> dict:
    """GX suites `expectations/raw_*.json` on a sample of each raw table the shop exported.

    A sample checks tolerances; every row is checked against the contract's rules by the
    quarantine models during the dbt build. An optional table landed empty has nothing to
    check, and a GX checkpoint costs about a second, so it is skipped and named."""
    from ml.data import warehouse
    from ml.data.contract import RAW_TABLES
    from ml.data.validate import validate_tables

    frames = {f"raw_{name}": warehouse.sample_parquet(settings.raw_dir / f"{name}.parquet", RAW_SAMPLE_ROWS)
              for name in (t.name for t in RAW_TABLES)}
    exported = {name: frame for name, frame in frames.items() if len(frame)}
    checked = validate_tables(exported, settings.expectations_dir, settings.gx_root)
    return {**checked, "empty, not checked": sorted(frames.keys() - exported.keys())}


@step("See the review sentiment run in the MLflow UI (experiment clm); options: CLM_TRAIN_CONFIG.",
      timedelta(hours=1), retries=1)
def train_sentiment(as_of: date, settings: Settings, config: TrainConfig | None = None) -> dict:
    """Fine-tunes the review sentiment classifier on the stars of reviews written before
    as_of - H (skipped with too few reviews); the reviews since then judge it."""
    import pandas as pd

    from ml.data import warehouse
    from ml.training import review_classifier, tracking

    experiment = tracking.configure(settings)
    reviews = warehouse.raw_reviews(settings.raw_dir, as_of)
    cutoff = pd.Timestamp(as_of) - pd.Timedelta(days=settings.horizon_days)
    return review_classifier.train(reviews, cutoff, config or train_config(settings), experiment,
                                   settings.sentiment_model_name)


@step("See the ticket intent run in the MLflow UI (experiment clm); options: CLM_TRAIN_CONFIG.",
      timedelta(hours=1), retries=1)
def train_intents(as_of: date, settings: Settings, config: TrainConfig | None = None) -> dict:
    """Fine-tunes the ticket intent classifier on the tickets the help desk labelled before
    as_of - H (skipped with too few); the labelled tickets since then judge it beside the
    keyword rules."""
    import pandas as pd

    from ml.data import warehouse
    from ml.training import ticket_intent, tracking

    experiment = tracking.configure(settings)
    tickets = warehouse.raw_tickets(settings.raw_dir, as_of)
    cutoff = pd.Timestamp(as_of) - pd.Timedelta(days=settings.horizon_days)
    return ticket_intent.train(tickets, cutoff, config or train_config(settings), experiment,
                               settings.intent_model_name)


@step("Go back to the previous review classifier (`clm rollback --model review`), promote another version "
      "(`clm promote VERSION --model review`), or delete its champion alias to fall back to the lexicon.",
      timedelta(hours=1), retries=1)
def score_reviews(as_of: date, settings: Settings) -> dict:
    """Scores every new review text with `models:/clm-review-sentiment@champion`, for the feature build."""
    from ml.actions import text_scores
    from ml.data import warehouse
    from ml.training import registry, tracking

    tracking.configure(settings)
    texts = warehouse.raw_reviews(settings.raw_dir, as_of)["review_text"]
    with warehouse.opened(settings) as wh:
        return text_scores.score(texts, wh, text_scores.REVIEW_SENTIMENT, settings.sentiment_model_name,
                                 registry.champion_version(settings.sentiment_model_name))


@step("Go back to the previous intent or review classifier (`clm rollback --model intent|review`), or delete "
      "its champion alias to fall back to the keyword rules (intent) or the lexicon (sentiment).",
      timedelta(hours=1), retries=1)
def score_tickets(as_of: date, settings: Settings) -> dict:
    """Names the intent of every new ticket the help desk did not label with
    `models:/clm-ticket-intent@champion` (the keyword rules without one) and scores every new
    ticket's tone with `models:/clm-review-sentiment@champion`, for the ticket features."""
    from ml.actions import text_scores
    from ml.data import warehouse
    from ml.training import registry, tracking

    tracking.configure(settings)
    tickets = warehouse.raw_tickets(settings.raw_dir, as_of, labelled=False)
    texts, unlabelled = tickets["text"], tickets.loc[tickets["intent"].isna(), "text"]
    with warehouse.opened(settings) as wh:
        intents = text_scores.score(unlabelled, wh, text_scores.TICKET_INTENTS, settings.intent_model_name,
                                    registry.champion_version(settings.intent_model_name),
                                    fallback=text_scores.keyword_intents)
        sentiment = text_scores.score(texts, wh, text_scores.TICKET_SENTIMENT, settings.sentiment_model_name,
                                      registry.champion_version(settings.sentiment_model_name))
    return {"intent": intents, "sentiment": sentiment}


@step("The message names the failing dbt model or test and example rows; fix the input or the model.",
      timedelta(hours=2))
def build_features(as_of: date, settings: Settings) -> dict[str, dict]:
    """`dbt build` of staging (bad rows to `quarantine_*`), intermediate, `customer_features`,
    `training_examples`, `review_sentiment`, `customer_products`, `products`, `campaign_effect`."""
    from ml.data import dbt_runner

    return dbt_runner.build(dbt_runner.FEATURE_SELECTOR, as_of, settings)


def quarantine_verdict(quarantined: dict[str, dict[str, int]], landed: dict[str, int],
                       max_share: float) -> dict[str, float]:
    """{table: share of its landed rows quarantined} for the tables that lost more than
    `max_share`: a few bad rows are normal and set aside, a large share is a broken export."""
    shares = {table: sum(rules.values()) / landed[table] for table, rules in quarantined.items() if landed.get(table)}
    return {table: share for table, share in shares.items() if share > max_share}


@step("Fix the export: the rows are in build.quarantine_<table> with the rule each broke.", timedelta(minutes=10))
def check_quarantine(as_of: date, settings: Settings) -> dict[str, dict[str, int]]:
    """Fails when a raw table loses more than `CLM_MAX_QUARANTINE_SHARE` (5%) of its rows; the
    error counts rows per rule.

    Building on the rest of a broken export would quietly mislead everyone downstream."""
    from ml.data import warehouse
    from ml.data.ingest import raw_row_counts

    with warehouse.opened(settings) as wh:
        counts = wh.quarantine_counts()
        landed = raw_row_counts(settings.raw_dir)
        broken = quarantine_verdict(counts, landed, settings.max_quarantine_share)
        examples = {(table, rule): wh.quarantine_examples(table, rule) for table in broken for rule in counts[table]}
    if broken:
        lines = []
        for table, share in broken.items():
            detail = ", ".join(
                f"{rule} {n:,} (e.g. {', '.join(examples[table, rule])})"
                for rule, n in sorted(counts[table].items(), key=lambda kv: (-kv[1], kv[0])))
            lines.append(f"{table}: {share:.1%} of {landed[table]:,} rows quarantined ({detail}); "
                         f"see {warehouse.BUILD}.quarantine_{table}")
        raise ValueError(
            f"Too much bad input (limit {settings.max_quarantine_share:.0%} per table, CLM_MAX_QUARANTINE_SHARE); "
            "nothing was published:\n  " + "\n  ".join(lines)
        )
    return counts


@step("The message names the column, the rule and example customer_ids; fix the input.", timedelta(minutes=30))
def validate_features(as_of: date, settings: Settings) -> dict:
    """GX suites on `customer_features` and `training_examples`."""
    from ml.data import warehouse
    from ml.data.validate import validate_tables

    with warehouse.opened(settings) as wh:
        frames = {name: wh.read_table(name) for name in ("customer_features", "training_examples")}
    return validate_tables(frames, settings.expectations_dir, settings.gx_root)


@step("Compare the two in the published review_sentiment table (sentiment_label, lexicon_label).",
      timedelta(minutes=10), retries=1)
def evaluate_sentiment(as_of: date, settings: Settings) -> dict:
    """Macro-F1 of the classifier and of the lexicon on the reviews since its cutoff, logged to
    the classifier's MLflow run and version."""
    from ml.data import warehouse
    from ml.training import review_classifier, tracking

    tracking.configure(settings)
    with warehouse.opened(settings) as wh:
        reviews = wh.read_table("review_sentiment")
    return review_classifier.compare_with_lexicon(reviews, settings.sentiment_model_name)


@step("See the training run in the MLflow UI (experiment clm); training options: CLM_TRAIN_CONFIG.",
      timedelta(hours=4), retries=1)
def train(as_of: date, settings: Settings, config: TrainConfig | None = None) -> list[dict]:
    """Trains every candidate (LightGBM, BG/NBD + Gamma-Gamma, their blend, the transformer) on
    the same time-based split and logs each to MLflow.

    What they learnt from is remembered, for `training_examples_changed`; the candidates carry
    when they were trained (UTC), for the warehouse's model_evaluation."""
    from ml.data import warehouse
    from ml.training import registry, tracking
    from ml.training.candidates import train_candidates

    experiment = tracking.configure(settings)
    with warehouse.opened(settings) as wh:
        learnt_from = wh.fingerprint("training_examples")
    results = train_candidates(training_examples(settings), config or train_config(settings), experiment)
    trained_at = warehouse.utc_now().isoformat()
    trained_on(settings).write_text(json.dumps({"fingerprint": learnt_from, "as_of": as_of.isoformat()}))
    # XComs are JSON: an undefined metric (NaN, e.g. ROC-AUC on a one-class holdout) travels as None.
    def defined(metrics: dict[str, float]) -> dict[str, float | None]:
        return {k: (None if registry.undefined(v) else v) for k, v in metrics.items()}

    return [{**asdict(r), "metrics": defined(r.metrics),
             "cutoff_metrics": {date: defined(metrics) for date, metrics in r.cutoff_metrics.items()},
             "trained_at": trained_at}
            for r in results]


def trained_on(settings: Settings) -> Path:
    return settings.home / "trained_on.json"


@step("Nothing to do: the next training run reads the examples again.", timedelta(minutes=10))
def training_examples_changed(as_of: date, settings: Settings) -> bool:
    """Whether `training_examples` differ from what the last training learnt from (a new
    cutoff's labels are complete, or late data changed old ones): then `clm_training` should run."""
    from ml.data import warehouse

    path = trained_on(settings)
    last = json.loads(path.read_text())["fingerprint"] if path.exists() else None
    with warehouse.opened(settings) as wh:
        return wh.fingerprint("training_examples") != last


@step("See the versions' `gate_reason` tags in the MLflow UI (Models); `clm promote VERSION` moves the champion.",
      timedelta(minutes=30), retries=1)
def register(as_of: date, settings: Settings, candidates: list[dict]) -> list[dict]:
    """Registers every candidate; the gate promotes the best to champion when it beats the
    champion, re-scored on each of the candidates' holdout cutoffs.

    Every candidate's holdout metrics, version and verdict, and its calibration and cumulative
    gain curves, are then appended to the build schema's `model_evaluation` and `model_curves`,
    which the next publish gives analysts."""
    import mlflow

    from ml.data import warehouse
    from ml.models.features import model_input
    from ml.training import history, registry, tracking
    from ml.training.metrics import churn_metrics, order_metrics

    tracking.configure(settings)
    champion_metrics = None
    if registry.champion_version(settings.model_name) is not None:
        champion = mlflow.pyfunc.load_model(f"models:/{settings.model_name}@{registry.CHAMPION}")
        champion_metrics = {}
        for cutoff in candidates[0]["cutoff_metrics"]:
            holdout = training_examples(settings, cutoff)
            scores = champion.predict(model_input(holdout))
            champion_metrics[cutoff] = {
                **churn_metrics(holdout["churned"].astype(int).to_numpy(), scores["churn_probability"].to_numpy()),
                **order_metrics(holdout["future_orders"].to_numpy("float64"),
                                scores["expected_orders"].to_numpy("float64")),
            }
    registrations = registry.register_candidates(candidates, settings.model_name, champion_metrics,
                                                 settings.promotion_margin)
    with warehouse.opened(settings) as wh:
        history.record(wh, candidates, registrations, settings.model_name)
    return [asdict(r) for r in registrations]


@step("Roll back to the previous champion with `clm rollback`, or promote a version: `clm promote VERSION`.",
      timedelta(hours=2), retries=2)
def score(as_of: date, settings: Settings) -> dict:
    """Scores all customers with `models:/<name>@champion`, in chunks of `CLM_SCORE_CHUNK_ROWS`
    (20,000), logging the rate and the time left, into the build schema."""
    import mlflow

    from ml.actions.reasons import Explainer
    from ml.data import warehouse
    from ml.training import registry, tracking

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
    explainer = Explainer(churn_explainer(settings, model))
    with warehouse.opened(settings) as wh:
        if isinstance(wh, warehouse.DuckDBWarehouse):
            scored = score_in_chunks(settings, wh, model.unwrap_python_model().predictor, explainer, constants, as_of)
        else:  # inside Spark, partition by partition
            from ml.actions import spark_scoring

            scored = spark_scoring.stage(wh.spark, f"models:/{settings.model_name}/{version}", explainer,
                                         settings.horizon_days, constants)
    return {"rows": scored.rows, "model_version": version, "model_family": family,
            "mean_churn_probability": scored.mean_churn_probability, "customers_per_second": scored.per_second,
            "precision": scored.precision}


def score_in_chunks(settings: Settings, wh, predictor, explainer, constants: dict, as_of: date):
    """DuckDB's scoring: chunks of customer_features streamed into a Parquet file, staged in one statement."""
    from ml.actions import scoring
    from ml.data import warehouse

    table = f"{warehouse.BUILD}.customer_features"
    out = settings.home / "tmp" / f"scores_{as_of}.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        scored = scoring.score_to_parquet(
            scoring.read_chunks(settings.warehouse, table, settings.score_chunk_rows, settings.horizon_days),
            predictor, explainer, out, constants, wh.rows(table))
        wh.stage_scores(out)
    finally:
        out.unlink(missing_ok=True)
    return scored


def churn_explainer(settings: Settings, champion):
    """The LightGBM model whose attributions explain the champion's churn scores: itself, the
    blend's LightGBM half, or else the registry's latest LightGBM candidate (ml/actions/reasons.py)."""
    import mlflow

    from ml.models.baselines import BlendModel, GbmModel

    predictor = champion.unwrap_python_model().predictor
    if isinstance(predictor, BlendModel):
        return predictor.gbm
    if isinstance(predictor, GbmModel):
        return predictor
    return mlflow.pyfunc.load_model(f"models:/{settings.model_name}@{GbmModel.family}").unwrap_python_model().predictor


@step("The message says what failed; recommendations learn from build.customer_products.", timedelta(hours=1))
def recommend(as_of: date, settings: Settings) -> dict:
    """Top-10 products per customer (repeat, co-purchase, popular); its recall@10 / NDCG@10 on
    the last H days, against popularity, logged to MLflow first."""
    from ml.actions import recommendations
    from ml.data import warehouse
    from ml.training import tracking

    with warehouse.opened(settings) as wh:
        purchases = wh.read_table("customer_products")
        customers = wh.read_frame(f"select customer_id from {warehouse.BUILD}.customer_features")
        run_id = recommendations.log_evaluation(recommendations.evaluate(purchases), as_of.isoformat(),
                                                tracking.configure(settings))
        top_k = recommendations.Recommender.fit(purchases).recommend(customers["customer_id"]).assign(as_of=as_of)
        rows = wh.write_table(warehouse.RECOMMENDATIONS_STAGED, top_k)
    return {"rows": rows, "evaluation_run_id": run_id}


@step("The message names the failing dbt model or test and example rows.", timedelta(minutes=30))
def build_marts(as_of: date, settings: Settings) -> dict[str, dict]:
    """`dbt build` of `customer_scores` (score history), `customer_segments`, `churn_alerts`,
    `next_best_action` (with its holdouts) and `recommendations`."""
    from ml.data import dbt_runner

    return dbt_runner.build(dbt_runner.MARTS_SELECTOR, as_of, settings)


@step("The message names the column and rule; compare the champion with the last run's in MLflow. "
      "A shop that really changed that much: raise CLM_MAX_CHURN_SHIFT for this run.", timedelta(minutes=30))
def validate_marts(as_of: date, settings: Settings) -> dict:
    """GX suites on this run's scores, with the previous scoring date's mean churn probability
    as the drift reference (the run's own on a first run)."""
    import pandas as pd

    from ml.data import warehouse
    from ml.data.validate import validate_tables

    with warehouse.opened(settings) as wh:
        scores = wh.read_frame(f"select * from {warehouse.BUILD}.{warehouse.SCORES} where as_of = ?", [as_of])
        previous = wh.read_frame(
            f"select avg(churn_probability) as mean from {warehouse.BUILD}.{warehouse.SCORES} "
            f"where as_of = (select max(as_of) from {warehouse.BUILD}.{warehouse.SCORES} where as_of < ?)", [as_of],
        )["mean"].iloc[0]
    reference = scores["churn_probability"].mean() if pd.isna(previous) else float(previous)
    shift = settings.max_churn_shift
    parameters = {"churn_mean_low": reference - shift, "churn_mean_high": reference + shift}
    return validate_tables({"customer_scores": scores}, settings.expectations_dir, settings.gx_root, parameters)


@step("Nothing analysts read changed; re-run the date once the message's cause is fixed.",
      timedelta(minutes=10), retries=1)
def publish(as_of: date, settings: Settings) -> dict[str, int]:
    """Writes every dbt model tagged `published`, and the training runs' `model_evaluation` and
    `model_curves`, into a new analysts' database and renames it over `analytics.duckdb` (on
    Spark: a new schema the views of `analytics` then point at): nothing analysts read changed
    before this task.

    A shop that has never trained gets the two training tables empty."""
    from ml.data import dbt_runner, warehouse
    from ml.training import history

    with warehouse.opened(settings) as wh:
        return wh.publish(as_of, dbt_runner.published_models(settings) + history.ensure(wh))
