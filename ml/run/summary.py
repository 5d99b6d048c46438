"""The short report `make demo` and `clm run` end with: what was built, how good the model is,
and where to look next."""

from __future__ import annotations

from ml.data import warehouse
from ml.data.validate import data_docs_index
from ml.settings import Settings
from ml.training import registry, tracking

TABLES = ("customer_features", "training_examples", "customer_segments", "customer_scores", "review_sentiment",
          "churn_alerts", "next_best_action", "campaign_effect", "recommendations")
TOP_ALERTS = 5


def summary(settings: Settings) -> str:
    where = "analytics schema of the Spark catalog" if settings.engine == "spark" else settings.analytics_db
    lines = ["", f"== clm summary (analytics: {where}) =="]
    with warehouse.opened(settings) as wh:
        def fetch(sql: str) -> list[tuple]:
            return wh.query(sql)[1]

        for table in TABLES:
            rows = fetch(f"select count(*) from {table}")[0][0]
            lines.append(f"  {table:<30} {rows:>10,} rows")
        scores = warehouse.SCORES
        as_of, customers, mean_p = fetch(
            f"select cast(max(as_of) as date), count(distinct customer_id), avg(churn_probability) from {scores} "
            f"where as_of = (select max(as_of) from {scores})")[0]
        quarantined = {table: fetch(f"select count(*) from {table}")[0][0] for table in warehouse.QUARANTINE_TABLES}
        segments = fetch("select rfm_segment, count(*) from customer_segments group by 1 order by 2 desc limit 5")
        alerts = fetch(
            f"select alert_rank, customer_id, churn_probability, value_at_stake, "
            f"concat_ws('; ', churn_reason_1, churn_reason_2, churn_reason_3) from churn_alerts "
            f"order by alert_rank limit {TOP_ALERTS}")
        actions = fetch(
            "select action, count(*), count(*) filter (where in_holdout) "
            f"from next_best_action where as_of = date '{as_of}' group by 1 order by 2 desc")
    lines.append(f"  latest scores: as_of {as_of}, {customers:,} customers, mean churn probability {mean_p:.3f}")
    lines.append("  quarantined raw rows: " + (", ".join(f"{t.removeprefix('quarantine_')} {n:,}"
                                                         for t, n in quarantined.items() if n) or "none"))
    lines.append("  top segments: " + ", ".join(f"{name or 'no orders yet'} {n:,}" for name, n in segments))
    lines.append("  actions (customers, of whom held out): "
                 + ", ".join(f"{action} {customers:,}" + (f" ({held:,})" if held else "") for action, customers, held in actions))
    lines.append("  top churn alerts (rank, customer, churn probability, value at stake: reasons):")
    lines += [f"    {rank}. customer {customer}, {p:.2f}, {value:,.2f}: {reasons or 'none given'}"
              for rank, customer, p, value, reasons in alerts] or ["    none"]

    tracking.configure(settings)
    version = registry.champion_version(settings.model_name)
    if version is not None:
        from mlflow import MlflowClient

        tags = MlflowClient().get_model_version(settings.model_name, version).tags
        metrics = ", ".join(f"{k.removeprefix('holdout_')} {float(v):.3f}" for k, v in sorted(tags.items())
                            if k.startswith("holdout_") and k not in ("holdout_as_of", "holdout_cutoffs")
                            and not k.endswith("_sd"))
        # Versions from before the gate judged on several cutoffs name only the one.
        cutoffs = tags.get("holdout_cutoffs", tags.get("holdout_as_of"))
        lines.append(f"  champion: {settings.model_name} version {version}, {tags.get('family', 'transformer')} "
                     f"(mean over the holdout cutoffs {cutoffs}: {metrics})")
        # Why it is champion: set by every promotion and rollback (older versions: the gate's reason).
        lines.append(f"  why: {tags.get(registry.CHAMPION_REASON) or tags.get('gate_reason', 'promoted by hand')}")
    lines.append("  " + sentiment_line(settings))
    lines.append("  " + intent_line(settings))
    lines += [
        "",
        "next:",
        "  clm sql \"select rfm_segment, count(*), avg(churn_probability) from customer_segments group by 1\"",
        "  clm sql \"select * from customer_scores order by churn_probability desc limit 10\"",
        "  clm sql \"select * from churn_alerts order by alert_rank limit 20\"",
        "  make ui     # Airflow UI on :8080, MLflow UI on :5000",
        f"  GX Data Docs: {data_docs_index(settings.gx_root)}",
    ]
    return "\n".join(lines)


def sentiment_line(settings: Settings) -> str:
    version = registry.champion_version(settings.sentiment_model_name)
    if version is None:
        return "review sentiment: the lexicon (too few reviews to fine-tune a classifier)"
    from mlflow import MlflowClient

    tags = MlflowClient().get_model_version(settings.sentiment_model_name, version).tags
    if "lexicon_macro_f1" not in tags:
        return f"review sentiment: {settings.sentiment_model_name} version {version} (no later reviews to judge it on)"
    return (f"review sentiment: {settings.sentiment_model_name} version {version}, macro-F1 {float(tags['macro_f1']):.3f} "
            f"against the lexicon's {float(tags['lexicon_macro_f1']):.3f} on {tags['later_reviews']} reviews since "
            f"{tags['cutoff']}")


def intent_line(settings: Settings) -> str:
    version = registry.champion_version(settings.intent_model_name)
    if version is None:
        return "ticket intent: the keyword rules (too few labelled tickets to fine-tune a classifier)"
    from mlflow import MlflowClient

    client = MlflowClient()
    details = client.get_model_version(settings.intent_model_name, version)
    metrics = client.get_run(details.run_id).data.metrics
    if "macro_f1" not in metrics:
        return f"ticket intent: {settings.intent_model_name} version {version} (no later labelled tickets to judge it on)"
    return (f"ticket intent: {settings.intent_model_name} version {version}, macro-F1 {metrics['macro_f1']:.3f} "
            f"against the keyword rules' {metrics['keyword_macro_f1']:.3f} on the labelled tickets since "
            f"{details.tags['cutoff']}")
