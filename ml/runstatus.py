"""What each step of a run did, recorded as data: `CLM_HOME/runs/<as_of>/<task>.json`.

`clm run` reads these files to say which task failed, why and what to do, instead of searching
Airflow's log for strings. A step records itself whether it is called by Airflow, by a test or
by hand, so the record is the same wherever the step ran.
"""

from __future__ import annotations

import functools
import json
import shutil
import traceback
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar

from ml.settings import Settings

RUNNING, SUCCESS, FAILED = "running", "success", "failed"
T = TypeVar("T")
# The step running in this thread, so that deep inside it progress can be reported (`report`).
_running: ContextVar[tuple[Settings, StepStatus] | None] = ContextVar("running_step", default=None)


@dataclass(frozen=True)
class StepStatus:
    task: str
    as_of: str
    state: str
    started_at: str
    finished_at: str | None
    error_type: str | None = None
    message: str | None = None
    what_to_do: str | None = None
    where: str | None = None
    progress: str | None = None
    # Lines the step said once (what it chose and why), which `clm run` prints each of.
    notes: tuple[str, ...] = ()

    @property
    def seconds(self) -> float:
        end = datetime.fromisoformat(self.finished_at) if self.finished_at else datetime.now(UTC)
        return (end - datetime.fromisoformat(self.started_at)).total_seconds()

    def describe(self) -> str:
        lines = [f"task {self.task} failed ({self.error_type}):", *(f"  {line}" for line in (self.message or "").splitlines())]
        if self.what_to_do:
            lines.append(f"what to do: {self.what_to_do}")
        return "\n".join(lines)


def run_dir(settings: Settings, as_of: date) -> Path:
    return settings.home / "runs" / as_of.isoformat()


def clear(settings: Settings, as_of: date) -> None:
    """Forget an earlier attempt at this date, so what is read afterwards is this run's."""
    shutil.rmtree(run_dir(settings, as_of), ignore_errors=True)


def read(settings: Settings, as_of: date) -> dict[str, StepStatus]:
    """{task: status} of the steps of the run for as_of that have started, in starting order."""
    folder = run_dir(settings, as_of)
    statuses = [StepStatus(**json.loads(p.read_text())) for p in folder.glob("*.json")] if folder.exists() else []
    return {s.task: s for s in sorted(statuses, key=lambda s: s.started_at)}


def step(task: str, what_to_do: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Record the outcome of a pipeline step `fn(as_of, settings, ...)` under its task id.

    A step is recorded as running when it starts, so `clm run` can show it. A failure is
    recorded with its type, its message (which names the table, rule and rows
    where the step knows them) and `what_to_do`, then raised again so Airflow fails the task.
    """
    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def wrapper(as_of: date, settings: Settings, *args, **kwargs) -> T:
            started = _now()
            running = StepStatus(task, as_of.isoformat(), RUNNING, started, None)
            _write(settings, running)
            token = _running.set((settings, running))
            try:
                result = fn(as_of, settings, *args, **kwargs)
            except Exception as error:
                frame = traceback.extract_tb(error.__traceback__)[-1]
                _write(settings, StepStatus(task, as_of.isoformat(), FAILED, started, _now(), type(error).__name__,
                                            str(error), what_to_do, f"{Path(frame.filename).name}:{frame.lineno}",
                                            notes=_notes()))
                raise
            else:
                _write(settings, StepStatus(task, as_of.isoformat(), SUCCESS, started, _now(), notes=_notes()))
                return result
            finally:
                _running.reset(token)
        return wrapper
    return decorate


def report(progress: str) -> None:
    """Put how far the running step has got into its record, where `clm run` prints it; a no-op
    outside a step (a test or a benchmark calling the code directly)."""
    current = _running.get()
    if current is not None:
        settings, running = current
        _write(settings, replace(running, progress=progress))


def note(line: str) -> None:
    """Add a line to the running step's notes, where `clm run` prints it once; a no-op outside a step."""
    current = _running.get()
    if current is not None:
        settings, running = current
        running = replace(running, notes=(*running.notes, line))
        _running.set((settings, running))
        _write(settings, running)


def _notes() -> tuple[str, ...]:
    current = _running.get()
    return () if current is None else tuple(current[1].notes)


def _write(settings: Settings, status: StepStatus) -> None:
    folder = run_dir(settings, date.fromisoformat(status.as_of))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{status.task}.json"
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(asdict(status), indent=2))
    partial.replace(path)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
