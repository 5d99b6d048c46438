"""Where clm keeps its state, read once from the environment.

Everything lives under one folder (`CLM_HOME`, default `.clm/` in the project) so a demo is
self-contained and a production deployment changes one variable, or points each store
elsewhere (`CLM_WAREHOUSE`, `MLFLOW_TRACKING_URI`).
"""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(os.environ.get("CLM_PROJECT_DIR", Path(__file__).resolve().parent.parent))
DEFAULT_MODEL_NAME = "clm-customer-model"
DEFAULT_SENTIMENT_MODEL_NAME = "clm-review-sentiment"
DEFAULT_INTENT_MODEL_NAME = "clm-ticket-intent"
# The SQL engines the dbt project runs on (its profiles.yml targets); DuckDB is the default.
ENGINES = ("duckdb", "spark")


@dataclass(frozen=True)
class Settings:
    home: Path
    raw_dir: Path
    # The pipeline's working database: only the pipeline opens it.
    warehouse: Path
    # What analysts and BI tools open, read-only: replaced whole by each run's publish step.
    analytics_db: Path
    tracking_uri: str
    artifact_root: Path
    airflow_home: Path
    # Airflow's metadata database: SQLite under airflow_home, or a team's PostgreSQL
    # (docker-compose.yml sets AIRFLOW__DATABASE__SQL_ALCHEMY_CONN).
    airflow_db: str
    model_name: str
    sentiment_model_name: str
    intent_model_name: str
    horizon_days: int
    # Training cutoffs to stack; None: every monthly cutoff of the shop's history, at most 12.
    training_cutoffs: int | None
    train_config: Path | None
    max_quarantine_share: float
    # The largest move of the mean churn probability between scoring dates that passes unchecked.
    max_churn_shift: float
    promotion_margin: float
    # Customers read, scored and written per chunk: scoring's memory is bounded by it.
    score_chunk_rows: int = 20_000
    # Where dbt builds: "duckdb" (the file `warehouse`) or "spark" (the Spark catalog; local
    # mode keeps its warehouse and metastore under home/spark, CLM_SPARK_MASTER names a cluster).
    engine: str = "duckdb"

    @property
    def dbt_project_dir(self) -> Path:
        return PROJECT_DIR / "dbt_project"

    @property
    def spark_dir(self) -> Path:
        """Spark local mode's warehouse (Parquet tables) and Derby metastore."""
        return self.home / "spark"

    @property
    def expectations_dir(self) -> Path:
        return PROJECT_DIR / "expectations"

    @property
    def gx_root(self) -> Path:
        """GX's file context; Data Docs at gx/uncommitted/data_docs/local_site/index.html."""
        return self.home / "gx"

    @property
    def dags_dir(self) -> Path:
        return PROJECT_DIR / "dags"

    def env(self) -> dict[str, str]:
        """The variables every child process (dbt, airflow, mlflow ui) needs to see the same stores."""
        return {
            "CLM_HOME": str(self.home),
            "CLM_RAW_DIR": str(self.raw_dir),
            "CLM_WAREHOUSE": str(self.warehouse),
            "CLM_ANALYTICS_DB": str(self.analytics_db),
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            "CLM_ARTIFACT_ROOT": str(self.artifact_root),
            "CLM_MODEL_NAME": self.model_name,
            "CLM_SENTIMENT_MODEL_NAME": self.sentiment_model_name,
            "CLM_INTENT_MODEL_NAME": self.intent_model_name,
            "CLM_HORIZON_DAYS": str(self.horizon_days),
            "CLM_TRAINING_CUTOFFS": str(self.training_cutoffs or ""),
            "CLM_TRAIN_CONFIG": str(self.train_config or ""),
            "CLM_MAX_QUARANTINE_SHARE": str(self.max_quarantine_share),
            "CLM_MAX_CHURN_SHIFT": str(self.max_churn_shift),
            "CLM_PROMOTION_MARGIN": str(self.promotion_margin),
            "CLM_SCORE_CHUNK_ROWS": str(self.score_chunk_rows),
            "CLM_ENGINE": self.engine,
            "CLM_SPARK_WAREHOUSE": str(self.spark_dir / "warehouse"),
            "CLM_SPARK_METASTORE": str(self.spark_dir / "metastore_db"),
            # Spark's Python workers (spark_udf) run this interpreter; local mode's driver listens on loopback.
            "PYSPARK_PYTHON": sys.executable,
            "SPARK_LOCAL_IP": "127.0.0.1",
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_dir),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.airflow_db,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "TRANSFORMERS_VERBOSITY": "error",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            "GX_ANALYTICS_ENABLED": "False",
        }


def load() -> Settings:
    home = Path(os.environ.get("CLM_HOME", PROJECT_DIR / ".clm")).resolve()
    airflow_home = Path(os.environ.get("AIRFLOW_HOME", home / "airflow"))
    return Settings(
        home=home,
        raw_dir=Path(os.environ.get("CLM_RAW_DIR", home / "raw")),
        warehouse=Path(os.environ.get("CLM_WAREHOUSE", home / "warehouse.duckdb")),
        analytics_db=Path(os.environ.get("CLM_ANALYTICS_DB", home / "analytics.duckdb")),
        tracking_uri=os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}"),
        artifact_root=Path(os.environ.get("CLM_ARTIFACT_ROOT", home / "mlartifacts")),
        airflow_home=airflow_home,
        airflow_db=os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{airflow_home / 'airflow.db'}"),
        model_name=os.environ.get("CLM_MODEL_NAME", DEFAULT_MODEL_NAME),
        sentiment_model_name=os.environ.get("CLM_SENTIMENT_MODEL_NAME", DEFAULT_SENTIMENT_MODEL_NAME),
        intent_model_name=os.environ.get("CLM_INTENT_MODEL_NAME", DEFAULT_INTENT_MODEL_NAME),
        horizon_days=int(os.environ.get("CLM_HORIZON_DAYS", "90")),
        training_cutoffs=int(os.environ["CLM_TRAINING_CUTOFFS"]) if os.environ.get("CLM_TRAINING_CUTOFFS") else None,
        max_quarantine_share=float(os.environ.get("CLM_MAX_QUARANTINE_SHARE", "0.05")),
        max_churn_shift=float(os.environ.get("CLM_MAX_CHURN_SHIFT", "0.25")),
        promotion_margin=float(os.environ.get("CLM_PROMOTION_MARGIN", "0.0")),
        train_config=Path(os.environ["CLM_TRAIN_CONFIG"]) if os.environ.get("CLM_TRAIN_CONFIG") else None,
        score_chunk_rows=int(os.environ.get("CLM_SCORE_CHUNK_ROWS", "20000")),
        engine=engine(os.environ.get("CLM_ENGINE", "duckdb")),
    )


def engine(name: str) -> str:
    """The engine named, checked: a typo must not fall back to DuckDB unnoticed."""
    if name not in ENGINES:
        raise ValueError(f"CLM_ENGINE={name!r} is not an engine clm runs on; use one of: {', '.join(ENGINES)}.")
    return name


def owner_only_secret(path: Path) -> str:
    """A random secret kept in `path`, readable by its owner only: made on first use, the same
    from then on. Nothing else writes or prints it."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return path.read_text().strip()
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()
