"""The benchmarks' shop: a synthetic shop landed and run through the dbt feature build."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from ml import pii, transform
from ml import settings as settings_module
from ml.generate import ShopConfig, generate_shop, write_shop
from ml.ingest import ingest_folder

AS_OF = date(2026, 1, 1)


def build_shop(customers: int, work: Path) -> settings_module.Settings:
    """A CLM_HOME under `work` whose warehouse holds the features of `customers` customers."""
    os.environ["CLM_HOME"] = str(work / "home")
    settings = settings_module.load()
    write_shop(generate_shop(ShopConfig(customers=customers, seed=1)), work / "shop")
    ingest_folder(work / "shop", settings.raw_dir, pii.key(settings.home))
    transform.build(transform.FEATURE_SELECTOR, AS_OF, settings)
    return settings
