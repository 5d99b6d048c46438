"""One pipeline at a time holds CLM_HOME: `hold` for a clm command, `hold_for_run` for a
scheduled Airflow run, by one of two means.

DuckDB lets one process write the working warehouse, and two runs (or a run and an ingest)
would also overwrite each other's staged scores and landed files. `clm run` and `clm ingest`
hold CLM_HOME by an exclusive lock on CLM_HOME/pipeline.lock; a second one refuses at once,
saying who holds it. The lock is the kernel's (flock): a killed holder releases it, and the
Airflow process a run starts inherits it, so an orphaned run still holds it until it ends.

Runs the Airflow scheduler starts (`clm ui`, the team deployment) have no clm process to hold
the lock: their tasks run in separate processes, one after the other. Such a run holds CLM_HOME
by a lease instead, CLM_HOME/pipeline.lease naming it, taken at its first task; every later
task of the same run finds its own name there and goes on, any other run's task waits, and
`clm run` refuses. The DAGs' end-of-run callbacks release it, and a task that finds the lease
of a run Airflow no longer runs takes it over.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

LOCK_FILE = "pipeline.lock"
# How long a scheduled run's first task waits for CLM_HOME while another run holds it (a
# training on a large shop takes hours): the first task's timeout allows for it.
LEASE_WAIT = timedelta(hours=6)
LEASE_FILE = "pipeline.lease"
# Set by clm for the processes of its own run (`airflow dags test`): the lock is held already.
HELD_ENV = "CLM_PIPELINE_LOCK_HELD"


class Busy(RuntimeError):
    """Another pipeline process holds CLM_HOME."""


@contextmanager
def hold(home: Path, what: str, run: str | None = None) -> Iterator[int]:
    """Hold CLM_HOME for `what` (e.g. "clm run --as-of 2026-01-01"); yields the lock's file
    descriptor, for child processes that must hold it too. Refused while a scheduled run other
    than `run` holds the lease."""
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
        leased_to = run_holding(home)
        if run is None and leased_to is not None:  # a run's own tasks check the lease in hold_for_run
            raise Busy(f"the Airflow run {leased_to} is using {home}; wait for it to end (the Airflow UI shows it). "
                       f"If Airflow shows it ended, delete {home / LEASE_FILE}.")
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{what} (pid {os.getpid()}, since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC)".encode())
        yield descriptor
    finally:
        os.close(descriptor)


def run_holding(home: Path) -> str | None:
    try:
        return (home / LEASE_FILE).read_text().strip() or None
    except FileNotFoundError:
        return None


def hold_for_run(home: Path, run: str, still_running: Callable[[str], bool], wait_seconds: float = 3600,
                 poll_seconds: float = 10) -> None:
    """Take CLM_HOME for the scheduled run `run` ("dag_id/run_id"), waiting while a clm command
    or another run that `still_running` holds it; raise Busy after `wait_seconds`."""
    if os.environ.get(HELD_ENV):
        return
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            with hold(home, f"{run} (taking the lease)", run=run):
                holder = run_holding(home)
                if holder in (None, run) or not still_running(holder):
                    (home / LEASE_FILE).write_text(run)
                    return
                reason = f"the Airflow run {holder} is using {home}"
        except Busy as busy:
            reason = str(busy)
        if time.monotonic() > deadline:
            raise Busy(f"{run} waited {wait_seconds:.0f} s for CLM_HOME: {reason}")
        time.sleep(poll_seconds)


def release_for_run(home: Path, run: str) -> None:
    """Give the lease back at the end of `run`; a lease another run holds stays. No lock is
    needed: only the holder writes its name there, and a takeover needs the holder ended."""
    if run_holding(home) == run:
        (home / LEASE_FILE).unlink(missing_ok=True)


def release_abandoned_run(home: Path) -> None:
    """Drop the lease of a run whose scheduler is gone (`clm ui` stopped with a run unfinished):
    Airflow marks such a run failed when it next starts, and CLM_HOME must not stay taken."""
    (home / LEASE_FILE).unlink(missing_ok=True)
