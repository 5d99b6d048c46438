"""`clm ui`: the Airflow and MLflow UIs on this machine, light, and gone when it stops.

`airflow standalone` runs the API server, scheduler, DAG processor and triggerer; left to its
defaults on a small machine it starts dozens of idle worker processes and listens on every
interface. Here it gets one API worker, two executor slots and one parsing process, listens on
localhost only, and writes its output to `CLM_HOME/logs/ui.log`, so what the terminal shows last
is where to go and how to log in. Each server runs in a process group of its own; Ctrl+C (or
SIGTERM) stops the whole group, and what does not stop within STOP_SECONDS is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

HOST = "127.0.0.1"
LIGHT = {
    "AIRFLOW__API__HOST": HOST,
    "AIRFLOW__API__WORKERS": "1",
    "AIRFLOW__CORE__PARALLELISM": "2",  # the LocalExecutor's worker processes
    "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
}
START_SECONDS = 300
STOP_SECONDS = 20


def serve(env: dict[str, str], airflow_home: Path, tracking_uri: str, experiment_id: str, log_path: Path,
          airflow_port: int, mlflow_port: int) -> int:
    """Start both UIs, print their addresses and the login once Airflow answers, and wait
    until Ctrl+C or until a server dies; 0 after Ctrl+C, 1 when a server stopped on its own.

    MLflow's address opens the experiment's training runs: its UI otherwise starts on a GenAI
    overview of traces, which clm has none of."""
    # Task processes report to the API server's execution API: on its port, not the default 8080.
    env = {**env, **LIGHT, "AIRFLOW__API__PORT": str(airflow_port),
           "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{HOST}:{airflow_port}/execution/"}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    with log_path.open("w") as log:
        servers = {
            "MLflow": subprocess.Popen(["mlflow", "ui", "--backend-store-uri", tracking_uri, "--host", HOST,
                                        "--port", str(mlflow_port)],
                                       env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True),
            "Airflow": subprocess.Popen(["airflow", "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True),
        }
        try:
            print(f"starting the Airflow and MLflow UIs (their output: {log_path}) ...", flush=True)
            if not _wait_until_up([f"http://{HOST}:{airflow_port}/api/v2/monitor/health",
                                   f"http://{HOST}:{mlflow_port}/health"], servers):
                print(f"clm: the UIs did not come up; see {log_path}")
                return 1
            print(f"MLflow UI:  http://{HOST}:{mlflow_port}/#/experiments/{experiment_id}/runs"
                  "?workflowType=machine_learning")
            print(f"Airflow UI: http://{HOST}:{airflow_port}  (DAGs clm_daily and clm_training)")
            print(f"log in to Airflow {login(env, airflow_home)}   (Ctrl+C stops both)", flush=True)
            while all(server.poll() is None for server in servers.values()):
                time.sleep(1)
            stopped = [name for name, server in servers.items() if server.poll() is not None]
            print(f"clm: the {' and '.join(stopped)} UI stopped on its own; see {log_path}")
            return 1
        except KeyboardInterrupt:
            print("stopping the UIs ...", flush=True)
            return 0
        finally:
            stop(servers.values())
            signal.signal(signal.SIGTERM, previous)


def login(env: dict[str, str], airflow_home: Path) -> str:
    """How to log in to Airflow: as admin with the password `airflow standalone` generated (the
    simple auth manager's file), or not at all where every user is an admin."""
    if env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "").lower() == "true":
        return "no login needed (AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS)"
    path = airflow_home / "simple_auth_manager_passwords.json.generated"
    password = json.loads(path.read_text()).get("admin", "?") if path.exists() else f"in {path}"
    return f"as admin, password {password}"


def stop(servers) -> None:
    """SIGTERM to each server's whole process group, then SIGKILL to what is left."""
    groups = [server.pid for server in servers]
    for group in groups:
        _signal_group(group, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while time.monotonic() < deadline and any(_group_alive(group) for group in groups):
        for server in servers:
            server.poll()  # reap the leaders, so their group can empty
        time.sleep(0.5)
    for group in groups:
        _signal_group(group, signal.SIGKILL)
    for server in servers:
        server.wait()


def _wait_until_up(urls: list[str], servers: dict[str, subprocess.Popen]) -> bool:
    """Whether every URL answers 200 within START_SECONDS, while no server has died."""
    deadline, waiting = time.monotonic() + START_SECONDS, list(urls)
    while waiting and time.monotonic() < deadline:
        if any(server.poll() is not None for server in servers.values()):
            return False
        waiting = [url for url in waiting if not _answers(url)]
        if waiting:
            time.sleep(2)
    return not waiting


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signum)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True
