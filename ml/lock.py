"""One pipeline at a time per CLM_HOME.

DuckDB lets one process write the working warehouse, and two runs (or a run and an ingest)
would also overwrite each other's staged scores and landed files. `clm run` and `clm ingest`
take an exclusive lock on CLM_HOME/pipeline.lock; a second one refuses at once, saying who
holds it. The lock is the kernel's (flock): a killed holder releases it, and the Airflow
process a run starts inherits it, so an orphaned run still holds it until it ends.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

LOCK_FILE = "pipeline.lock"


class Busy(RuntimeError):
    """Another pipeline process holds CLM_HOME."""


@contextmanager
def pipeline_lock(home: Path, what: str) -> Iterator[int]:
    """Hold CLM_HOME for `what` (e.g. "clm run --as-of 2026-01-01"); yields the lock's file
    descriptor, for child processes that must hold it too."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / LOCK_FILE
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = path.read_text().strip() or "another process"
            raise Busy(f"{holder} is using {home}; wait for it to finish and try again. "
                       "Two pipelines on one warehouse would overwrite each other's work.") from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{what} (pid {os.getpid()}, since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC)".encode())
        yield descriptor
    finally:
        os.close(descriptor)
