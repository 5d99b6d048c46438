"""How far a long step has got, how fast it goes and how long it still needs.

The dbt build, training and scoring report through `Progress`: each line goes to the task's
log and into the step's record (ml/runstatus.py), which `clm run` prints as it changes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from ml import runstatus

log = logging.getLogger(__name__)
# Before this much time a rate says more about start-up than about the work.
MIN_SECONDS_FOR_A_RATE = 1.0


@dataclass
class Progress:
    """`what` done so far of `total` `unit`s, e.g. "scored" 40,000 of 100,000 "customers".
    `deadline` (time.monotonic()) caps the estimate when a time budget ends the step first."""

    what: str
    unit: str
    total: int | None
    every_seconds: float = 5.0
    deadline: float | None = None
    started: float = field(default_factory=time.monotonic)
    last: float = field(default=float("-inf"))

    def update(self, done: int, force: bool = False) -> str | None:
        """Report `done` when `every_seconds` have passed since the last report (or `force`);
        the line reported, if any."""
        now = time.monotonic()
        if not force and now - self.last < self.every_seconds:
            return None
        self.last = now
        line = self.line(done, now)
        log.info(line)
        runstatus.report(line)
        return line

    def line(self, done: int, now: float) -> str:
        so_far = f"{self.what} {done:,}" + (f" of {self.total:,} {self.unit} ({done / self.total:.0%})"
                                            if self.total else f" {self.unit}")
        if now - self.started < MIN_SECONDS_FOR_A_RATE:
            return so_far
        rate = done / (now - self.started)
        if not self.total:
            return f"{so_far}, {rate:,.1f} {self.unit}/s"
        left = (self.total - done) / rate if rate > 0 else None
        if self.deadline is not None:
            left = min(left if left is not None else float("inf"), max(self.deadline - now, 0.0))
        estimate = "" if left is None else f", about {duration(left)} left"
        return f"{so_far}, {rate:,.1f} {self.unit}/s{estimate}"


def say(line: str) -> None:
    """A line that is not a count, such as what a step chose (a precision, and how fast each
    candidate ran): to the task's log and the step's notes, which `clm run` prints each of."""
    log.info(line)
    runstatus.note(line)


def duration(seconds: float) -> str:
    """3.2 s, 4 min 05 s, 1 h 02 min."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"
