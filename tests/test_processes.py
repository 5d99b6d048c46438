"""A stop leaves nothing running: orphans that started sessions of their own, and processes
that ignore SIGTERM, are found and ended, as `clm ui` needs for Airflow's task processes."""

from __future__ import annotations

import subprocess
import sys

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
processes.end_descendants(grace_seconds=1, groups=[])
took = time.monotonic() - started
after = processes.descendants(os.getpid())
try:
    os.waitpid(-1, os.WNOHANG)  # a child, even one that ended, is still there to collect
    children = "some"
except ChildProcessError:
    children = "none"
print(orphan in before, os.path.exists(f"/proc/{orphan}"), len(after), children, took)
"""


def test_orphans_and_processes_ignoring_sigterm_are_ended_and_reaped():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    adopted, orphan_left, after, children, took = done.stdout.split()
    assert (adopted, orphan_left) == ("True", "False")  # the orphan was found below us, and ended
    assert (after, children) == ("0", "none")  # nothing left running, and no zombie
    assert 1 <= float(took) < 5  # the stubborn shell ignored SIGTERM and took SIGKILL after the grace
