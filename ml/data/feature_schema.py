"""What the feature schema says beyond names and types: which way each feature moves churn risk.

The dbt marts' YAML (dbt_project/models/marts/_marts__models.yml) is the one place a feature is
defined; a column whose direction is known carries it as `config: {meta: {churn_risk: up|down}}`.
The model-based features, computed in Python (ml/models/clv.py), carry theirs here.
"""

from __future__ import annotations

from functools import cache

import yaml

from ml.settings import PROJECT_DIR

MARTS_SCHEMA = PROJECT_DIR / "dbt_project" / "models" / "marts" / "_marts__models.yml"
# More expected orders and a likelier life, less risk. Pareto/NBD's features are left free: they
# tell the same story as BG/NBD's, and the reasons tell it once.
CLV_CHURN_RISK = {"bgnbd_p_alive": "down", "bgnbd_expected_orders": "down"}


@cache
def churn_risk() -> dict[str, int]:
    """+1 where churn risk rises with the feature, -1 where it falls, for the features whose
    direction is known; the rest may move it either way. LightGBM is held to these
    (ml/models/baselines.GbmModel), and a churn reason is only told for a feature pushing risk
    up in its direction (ml/actions/reasons.py)."""
    columns = yaml.safe_load(MARTS_SCHEMA.read_text())["anchors"]
    stated = {column["name"]: column["config"]["meta"]["churn_risk"] for column in columns
              if "churn_risk" in column.get("config", {}).get("meta", {})}
    return {name: 1 if way == "up" else -1 for name, way in {**stated, **CLV_CHURN_RISK}.items()}
