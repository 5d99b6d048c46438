"""The benchmarks' shop: a synthetic shop landed and run through the dbt feature build."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from ml import settings as settings_module
from ml.data import dbt_runner, pii
from ml.data.ingest import ingest_folder
from ml.data.synthetic_shop import ShopConfig, generate_shop, write_shop

AS_OF = date(2026, 1, 1)


def build_shop(customers: int, work: Path) -> settings_module.Settings:
    """A CLM_HOME under `work` whose warehouse holds the features of `customers` customers."""
    os.environ["CLM_HOME"] = str(work / "home")
    settings = settings_module.load()
    write_shop(generate_shop(ShopConfig(customers=customers, seed=1)), work / "shop")
    ingest_folder(work / "shop", settings.raw_dir, pii.key(settings.home))
    dbt_runner.build(dbt_runner.FEATURE_SELECTOR, AS_OF, settings)
    return settings
