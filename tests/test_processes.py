"""A stop leaves nothing running: orphans that started sessions of their own, and processes
that ignore SIGTERM, are found and ended, as `clm ui` needs for Airflow's task processes."""

from __future__ import annotations

import subprocess
import sys
import time

# A parent that adopts orphans starts a server whose child leaves its session and outlives it
# (as an Airflow task process can outlive its scheduler), and one that ignores SIGTERM.
SCRIPT = """
import os, subprocess, time
from ml.run import processes
processes.adopt_orphans()
orphan = int(subprocess.run(["sh", "-c", "setsid sleep 300 >/dev/null 2>&1 & echo $!"], capture_output=True, text=True).stdout)
subprocess.Popen(["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"])
time.sleep(0.5)
before = processes.descendants(os.getpid())
started = time.monotonic()
stuck = processes.end_descendants(grace_seconds=1, groups=[])
took = time.monotonic() - started
after = processes.descendants(os.getpid())
try:
    os.waitpid(-1, os.WNOHANG)  # a child, even one that ended, is still there to collect
    children = "some"
except ChildProcessError:
    children = "none"
print(orphan in before, os.path.exists(f"/proc/{orphan}"), len(after), children, took, len(stuck))
"""


def test_orphans_and_processes_ignoring_sigterm_are_ended_and_reaped():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    adopted, orphan_left, after, children, took, stuck = done.stdout.split()
    assert (adopted, orphan_left) == ("True", "False")  # the orphan was found below us, and ended
    assert (after, children, stuck) == ("0", "none", "0")  # nothing left running or stuck, and no zombie
    assert 1 <= float(took) < 5  # the stubborn shell ignored SIGTERM and took SIGKILL after the grace


def test_a_process_is_described_by_its_state_and_command_line():
    from ml.run.processes import describe

    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        deadline = time.monotonic() + 10
        while not describe(sleeper.pid).endswith("sleep 30") and time.monotonic() < deadline:
            time.sleep(0.05)  # the child has a command line once it has exec'd sleep
        assert describe(sleeper.pid) in (f"{sleeper.pid} (R) sleep 30", f"{sleeper.pid} (S) sleep 30")
    finally:
        sleeper.kill()
        sleeper.wait()
    assert describe(sleeper.pid) == f"{sleeper.pid} (gone)"
