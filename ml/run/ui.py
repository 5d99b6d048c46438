"""`clm ui`: the Airflow and MLflow UIs and clm's dashboard on this machine, light, and gone when it stops.

`airflow standalone` runs the API server, scheduler, DAG processor and triggerer; left to its
defaults on a small machine it starts dozens of idle worker processes and listens on every
interface. Here it gets one API worker, two executor slots and one parsing process, listens on
localhost only, and writes its output to `CLM_HOME/logs/ui.log`, so what the terminal shows last
is where to go and how to log in. Ctrl+C (or SIGTERM) stops every process the servers started,
task processes in sessions of their own and orphans included (`ml.processes`), and kills what
does not stop within STOP_SECONDS.

No run fails because the API server is not up yet. Airflow 3's task processes talk to the
scheduler's world only through the API server's execution API: a LocalExecutor worker's task
supervisor first tells it the task started (`PATCH /execution/task-instances/{id}/run`), and when
that request cannot connect, the supervisor kills the task before any of its code ran and the
executor reports it failed; the scheduler then fails the try like any other (it honours only the
task's own retries). `airflow standalone` starts the scheduler and the API server side by side,
and on two busy cores the scheduler queues tasks many seconds before the API server listens. So:

- `serve` runs `when_up` (`clm ui` unpauses the DAGs there) only once the API server's health
  URL answers; until then the DAGs stay paused and the scheduler queues nothing.
- A task process that cannot reach the execution API keeps trying for EXECUTION_API_PATIENCE
  seconds (Airflow's `[workers] execution_api_retries` and its waits: the task SDK's HTTP
  client retries connection errors, timeouts and 5xx answers; its default, five tries at
  random waits, gives up within 15 s), so an API server that is slow, overloaded or restarting
  delays a task instead of failing it. This is chosen over task retries on purpose: the pipeline's deterministic steps
  keep `retries=0` (a rerun of a failed rule check gives the same failure), and a retry at the
  request covers exactly the failures that are the infrastructure's, whichever task meets them.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ml.dashboard import server as dashboard
from ml.run import processes

HOST = "127.0.0.1"
LIGHT = {
    "AIRFLOW__API__HOST": HOST,
    "AIRFLOW__API__WORKERS": "1",
    "AIRFLOW__CORE__PARALLELISM": "2",  # the LocalExecutor's worker processes
    "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
}
START_SECONDS = 300
STOP_SECONDS = 20
# How long a task process keeps trying an execution API that does not answer: a try every
# EXECUTION_API_WAIT seconds (the `[workers]` settings Airflow's task SDK reads).
EXECUTION_API_PATIENCE, EXECUTION_API_WAIT = 120, 5
PATIENT = {
    "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": str(EXECUTION_API_PATIENCE // EXECUTION_API_WAIT + 1),
    "AIRFLOW__WORKERS__EXECUTION_API_RETRY_WAIT_MIN": str(EXECUTION_API_WAIT),
    "AIRFLOW__WORKERS__EXECUTION_API_RETRY_WAIT_MAX": str(EXECUTION_API_WAIT),
}


def serve(env: dict[str, str], airflow_home: Path, tracking_uri: str, experiment_id: str, log_path: Path,
          airflow_port: int, mlflow_port: int, dashboard_port: int,
          when_up: Callable[[], None] = lambda: None) -> int:
    """Start the three UIs; once they answer, run `when_up` and print their addresses and the
    login; then wait until Ctrl+C or until a server dies; 0 after Ctrl+C, 1 when a server
    stopped on its own.

    MLflow's address opens the experiment's training runs: its UI otherwise starts on a GenAI
    overview of traces, which clm has none of."""
    # Task processes report to the API server's execution API: on its port, not the default 8080.
    env = {**env, **LIGHT, **PATIENT, "AIRFLOW__API__PORT": str(airflow_port),
           "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{HOST}:{airflow_port}/execution/"}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    processes.adopt_orphans()
    # Ctrl+C and SIGTERM both stop the servers. SIGINT's handler is set, not inherited: a shell
    # script that starts `clm ui &` hands it SIGINT ignored, and Python then leaves it so.
    previous = {signum: signal.signal(signum, _interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}
    with log_path.open("w") as log:
        servers = {
            "MLflow": subprocess.Popen(["mlflow", "ui", "--backend-store-uri", tracking_uri, "--host", HOST,
                                        "--port", str(mlflow_port)],
                                       env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True),
            "Airflow": subprocess.Popen(["airflow", "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True),
            "dashboard": subprocess.Popen(dashboard.command(dashboard_port), env=env, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True),
        }
        try:
            print(f"starting the Airflow and MLflow UIs and the dashboard (their output: {log_path}) ...", flush=True)
            if not _wait_until_up([f"http://{HOST}:{airflow_port}/api/v2/monitor/health",
                                   f"http://{HOST}:{mlflow_port}/health", dashboard.health_url(dashboard_port)],
                                  servers):
                print(f"clm: the UIs did not come up; see {log_path}")
                return 1
            when_up()
            print(f"MLflow UI:  http://{HOST}:{mlflow_port}/#/experiments/{experiment_id}/runs"
                  "?workflowType=machine_learning")
            print(f"Airflow UI: http://{HOST}:{airflow_port}  (DAGs clm_daily and clm_training)")
            print(f"Dashboard:  {dashboard.url(dashboard_port)}  (the analysts' database, for CRM marketers)")
            print(f"log in to Airflow {login(env, airflow_home)}   (Ctrl+C stops all three)", flush=True)
            while all(server.poll() is None for server in servers.values()):
                processes.reap_orphans(keep={server.pid for server in servers.values()})
                time.sleep(1)
            stopped = [name for name, server in servers.items() if server.poll() is not None]
            print(f"clm: the {' and '.join(stopped)} UI stopped on its own; see {log_path}")
            return 1
        except KeyboardInterrupt:
            print("stopping the UIs ...", flush=True)
            return 0
        finally:
            stuck = processes.end_descendants(STOP_SECONDS, [server.pid for server in servers.values()])
            if stuck:
                print("clm: these processes outlived SIGKILL (stuck in the kernel); end them once they "
                      "return, or restart the machine:\n  " + "\n  ".join(stuck), flush=True)
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def login(env: dict[str, str], airflow_home: Path) -> str:
    """How to log in to Airflow: as admin with the password `airflow standalone` generated (the
    simple auth manager's file), or not at all where every user is an admin."""
    if env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "").lower() == "true":
        return "no login needed (AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS)"
    path = airflow_home / "simple_auth_manager_passwords.json.generated"
    password = json.loads(path.read_text()).get("admin", "?") if path.exists() else f"in {path}"
    return f"as admin, password {password}"


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
