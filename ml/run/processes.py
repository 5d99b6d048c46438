"""The process tree below this process, orphans included, so a stop leaves nothing running.

Airflow's task processes start sessions of their own, so a signal to the servers' process
groups misses them, and one whose scheduler stops first is re-parented to init, out of sight.
Made a child subreaper, this process adopts such orphans instead: every process its servers
ever started stays below it until it is reaped here.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def adopt_orphans() -> None:
    """Make this process the reaper of its descendants' orphans (Linux; elsewhere a no-op)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, whatever session it started for itself."""
    parents = {child: parent for child, parent, state in _table() if state != "Z"}
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def reap_orphans(keep: set[int]) -> None:
    """Collect the adopted orphans that have ended, leaving the children in `keep` (whose
    `Popen` reads their exit status) alone; a long-running parent keeps no zombies."""
    me = os.getpid()
    for pid, parent, state in _table():
        if parent == me and state == "Z" and pid not in keep:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


def end_descendants(grace_seconds: float, groups: list[int], kill_seconds: float = 10) -> list[str]:
    """SIGTERM to every descendant, SIGKILL to those still there after `grace_seconds`, and
    return once none is left (each reaped, so no zombie stays behind) or, where some outlive
    SIGKILL by `kill_seconds` (a process stuck in the kernel), with those: "pid (state) command"
    each, for the caller to name. The process `groups` are signalled as well: where there is no
    /proc to find descendants in (not Linux), they are what can still be stopped."""
    deadline, signum = time.monotonic() + grace_seconds, signal.SIGTERM
    signalled: set[int] = set()
    _signal_groups(groups, signum)
    while left := descendants(os.getpid()):
        if signum == signal.SIGTERM and time.monotonic() >= deadline:
            signum, signalled, deadline = signal.SIGKILL, set(), time.monotonic() + kill_seconds
            _signal_groups(groups, signum)
        elif signum == signal.SIGKILL and time.monotonic() >= deadline:
            return [describe(pid) for pid in sorted(left)]
        for pid in left - signalled:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        signalled |= left
        _reap_all()
        time.sleep(0.2)
    _reap_all()
    return []


def describe(pid: int) -> str:
    """"pid (state) command line" of a process, as far as /proc still shows it."""
    try:
        state = _stat(Path(f"/proc/{pid}/stat"))[0]
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return f"{pid} (gone)"
    return f"{pid} ({state}) {command[:200]}"


def _signal_groups(groups: list[int], signum: int) -> None:
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signum)


def _table() -> list[tuple[int, int, str]]:
    """(pid, parent pid, state) of every process, from /proc."""
    rows = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = _stat(stat)
        except OSError:
            continue
        rows.append((int(stat.parent.name), int(fields[1]), fields[0]))
    return rows


def _stat(path: Path) -> list[str]:
    """The fields of a /proc/<pid>/stat after the command name (which may hold spaces and
    parentheses): state first, then the parent's pid."""
    return path.read_text().rsplit(")", 1)[1].split()


def _reap_all() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
