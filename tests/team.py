"""docker-compose.yml's team deployment, run on this machine without Docker (`make team-test`).

The compose file is the one place the team's settings live: each service here runs the command
and the environment compose gives it, with the image's own environment (docker/Dockerfile's
ENV), and with only what a host has to change: the services' names and ports become 127.0.0.1
and free ports, the volumes' /data folders a temporary folder, the secrets of .env generated.
PostgreSQL is a private cluster (initdb into a temporary folder, on a free port, its database
made by the image's init script, docker/postgres-init.sh), stopped at the end whatever happens.
Services start in compose's order: each waits for the ones it depends on to be healthy, by the
healthcheck compose gives them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from urllib.parse import quote

import yaml

from ml.settings import PROJECT_DIR
from tests.conftest import free_port, get_json

COMPOSE = yaml.safe_load((PROJECT_DIR / "docker-compose.yml").read_text())
VARIABLE = re.compile(r"\$\{(\w+)(?::\?[^}]*)?\}")
# Where compose's services reach each other, and the port each listens on in its container.
HOSTS = {"postgres": 5432, "airflow-apiserver": 8080, "mlflow": 5000}
SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "mlflow")
START_SECONDS = 300


def image_env() -> dict[str, str]:
    """The image's ENV instructions (`ENV A=1 \\ B=2`), as the Dockerfile sets them."""
    text = (PROJECT_DIR / "docker" / "Dockerfile").read_text().replace("\\\n", " ")
    env = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(pair.split("=", 1) for pair in line[4:].split())
    return env


IMAGE_ENV = image_env()


def secrets_env() -> dict[str, str]:
    """.env's values, generated as .env.example says."""
    return {"POSTGRES_PASSWORD": secrets.token_urlsafe(16), "AIRFLOW_FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "AIRFLOW_JWT_SECRET": secrets.token_urlsafe(32), "CLM_PII_KEY": secrets.token_urlsafe(32)}


@dataclass
class Team:
    """The running deployment: its folders, ports, secrets and processes."""

    root: Path
    ports: dict[str, int] = field(default_factory=lambda: {host: free_port() for host in HOSTS})
    dotenv: dict[str, str] = field(default_factory=secrets_env)
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    pgdata: Path | None = None
    # compose's `restart: unless-stopped`: how often each service was started again.
    restarts: dict[str, int] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    stopping: threading.Event = field(default_factory=threading.Event)

    def localise(self, value: str, service: str) -> str:
        """A value of compose's as this host needs it: `.env`'s secrets filled in, the services'
        names and ports as 127.0.0.1 and this deployment's ports (a server's own port in its
        command and healthcheck too), the volumes' /data folders under `root`."""
        value = VARIABLE.sub(lambda m: self.dotenv[m.group(1)], value)
        for host, port in HOSTS.items():
            value = value.replace(f"{host}:{port}", f"127.0.0.1:{self.ports[host]}")
        if service in HOSTS:
            value = re.sub(rf"(?<![\d.]){HOSTS[service]}(?!\d)", str(self.ports[service]), value)
        return value.replace("0.0.0.0", "127.0.0.1").replace("/data/", f"{self.root}/data/")

    def env(self, service: str = "airflow-scheduler") -> dict[str, str]:
        """A service's environment: this machine's, minus clm's, Airflow's and MLflow's own,
        then the image's, then compose's for the service."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("CLM_", "AIRFLOW", "MLFLOW_"))}
        base["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}"
        spec = COMPOSE["services"][service]
        env = {**IMAGE_ENV, **{k: str(v) for k, v in spec.get("environment", {}).items()}}
        return {**base, **{k: self.localise(v, service) for k, v in env.items()}, **self.extra_env}

    def command(self, service: str) -> list[str]:
        return [self.localise(str(word), service) for word in COMPOSE["services"][service]["command"]]

    @property
    def home(self) -> Path:
        return Path(self.env()["CLM_HOME"])

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports['airflow-apiserver']}"

    @property
    def mlflow(self) -> str:
        return f"http://127.0.0.1:{self.ports['mlflow']}"

    # PostgreSQL: the postgres service, as its image starts it.
    def start_postgres(self) -> None:
        self.pgdata = Path(tempfile.mkdtemp(prefix="clm-team-pg-"))
        spec = COMPOSE["services"]["postgres"]["environment"]
        user, database = spec["POSTGRES_USER"], spec["POSTGRES_DB"]
        password = self.dotenv["POSTGRES_PASSWORD"]
        (self.pgdata / "pwfile").write_text(password)
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(self.pgdata, "postgres")
            shutil.chown(self.pgdata / "pwfile", "postgres")
        as_postgres(["initdb", "-D", str(self.pgdata / "data"), "-U", user, f"--pwfile={self.pgdata / 'pwfile'}",
                     "--auth=scram-sha-256"])
        self.pg_ctl("start", "-w")
        client = self.pg_env()
        subprocess.run(["createdb", database], env=client, check=True)
        subprocess.run(["bash", str(PROJECT_DIR / "docker" / "postgres-init.sh")], check=True,
                       env={**client, "POSTGRES_USER": user, "POSTGRES_DB": database})

    def pg_env(self) -> dict[str, str]:
        spec = COMPOSE["services"]["postgres"]["environment"]
        return {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(self.ports["postgres"]), "PGUSER": spec["POSTGRES_USER"],
                "PGPASSWORD": self.dotenv["POSTGRES_PASSWORD"], "PGDATABASE": spec["POSTGRES_DB"]}

    def pg_ctl(self, action: str, *options: str) -> None:
        as_postgres(["pg_ctl", "-D", str(self.pgdata / "data"), "-l", str(self.pgdata / "postgres.log"),
                     "-o", f"-p {self.ports['postgres']} -c listen_addresses=127.0.0.1 -k {self.pgdata}",
                     *options, action])

    def postgres_healthy(self) -> bool:
        """compose's healthcheck for the postgres service (pg_isready), against this cluster."""
        test = COMPOSE["services"]["postgres"]["healthcheck"]["test"][1]
        return subprocess.run(test, shell=True, env=self.pg_env(), capture_output=True).returncode == 0

    # The services.
    def init(self) -> None:
        """airflow-init: the migration every Airflow service depends on."""
        done = subprocess.run(self.command("airflow-init"), env=self.env("airflow-init"), capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"airflow-init failed:\n{(done.stdout + done.stderr)[-3000:]}")

    def start(self, service: str) -> None:
        log = (self.root / "logs" / f"{service}.log")
        log.parent.mkdir(parents=True, exist_ok=True)
        with self.lock, log.open("a") as out:
            self.processes[service] = subprocess.Popen(self.command(service), env=self.env(service), stdout=out,
                                                       stderr=subprocess.STDOUT, start_new_session=True)

    def supervise(self) -> None:
        """compose's `restart: unless-stopped`: a service that exits on its own (killed, or
        crashed) is started again; one stopped on purpose (`stop`) is not."""
        def watch() -> None:
            while not self.stopping.wait(1):
                with self.lock:
                    for service, process in list(self.processes.items()):
                        if process.poll() is not None:
                            self.restarts[service] = self.restarts.get(service, 0) + 1
                            self.start(service)

        threading.Thread(target=watch, daemon=True).start()

    def kill(self, service: str) -> None:
        """SIGKILL to the service and every process it started, as `docker kill` does to a container."""
        with self.lock:
            os.killpg(self.processes[service].pid, signal.SIGKILL)

    def stop(self, service: str, signum: int = signal.SIGTERM, within: float = 30) -> None:
        with self.lock:
            process = self.processes.pop(service, None)
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
        try:
            process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def healthy(self, service: str) -> bool:
        """compose's healthcheck of the service, run here (its command in its environment)."""
        test = COMPOSE["services"][service]["healthcheck"]["test"]
        return subprocess.run([self.localise(str(w), service) for w in test[1:]], env=self.env(service),
                              capture_output=True).returncode == 0

    def wait_healthy(self, service: str) -> None:
        deadline = time.monotonic() + START_SECONDS
        while not self.healthy(service):
            process = self.processes.get(service)
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"{service} stopped on its own; see {self.root / 'logs' / service}.log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{service} was not healthy within {START_SECONDS} s")
            time.sleep(2)

    def up(self, order: tuple[str, ...] = SERVICES, wait: bool = True) -> None:
        """Start PostgreSQL, the migration, then the services in `order`, each after what it
        depends on is healthy, as compose does (`wait=False`: without waiting)."""
        self.start_postgres()
        while not self.postgres_healthy():
            time.sleep(1)
        self.init()
        for service in order:
            for dependency, condition in COMPOSE["services"][service].get("depends_on", {}).items():
                if wait and condition.get("condition") == "service_healthy" and dependency in self.processes:
                    self.wait_healthy(dependency)
            self.start(service)
        if not wait:
            return
        for service in order:
            if "healthcheck" in COMPOSE["services"][service]:
                self.wait_healthy(service)
        self.supervise()

    def down(self) -> None:
        self.stopping.set()
        for service in list(self.processes):
            self.stop(service)
        if self.pgdata is not None:
            with contextlib.suppress(subprocess.CalledProcessError):
                self.pg_ctl("stop", "-m", "immediate")
            shutil.rmtree(self.pgdata, ignore_errors=True)

    # Airflow's and MLflow's REST APIs.
    @cached_property
    def token(self) -> str:
        """A token for Airflow's REST API, as admin (valid a day: the deployment's whole life)."""
        passwords = Path(self.env()["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
        password = json.loads(passwords.read_text())["admin"]
        return get_json(f"{self.api}/auth/token", body={"username": "admin", "password": password})["access_token"]

    def airflow(self, path: str, body: dict | None = None) -> dict:
        return get_json(f"{self.api}/api/v2/{path}", token=self.token, body=body)

    def trigger(self, dag_id: str, as_of: str) -> str:
        run = self.airflow(f"dags/{dag_id}/dagRuns", {"logical_date": None, "conf": {"as_of": as_of}})
        return run["dag_run_id"]

    def wait_run(self, dag_id: str, run_id: str, within: float) -> str:
        """The run's final state, waiting up to `within` seconds."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            state = self.airflow(f"dags/{dag_id}/dagRuns/{quote(run_id)}")["state"]
            if state in ("success", "failed"):
                return state
            time.sleep(3)
        raise AssertionError(f"{dag_id} {run_id} did not end within {within:.0f} s")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        tis = self.airflow(f"dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances?limit=200")["task_instances"]
        return {ti["task_id"]: ti["state"] for ti in tis}

    def clm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """A `clm` command as `docker compose exec airflow-scheduler clm ...` runs it."""
        done = subprocess.run(["clm", *args], env=self.env(), capture_output=True, text=True)
        if check and done.returncode != 0:
            raise AssertionError(f"clm {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done


def as_postgres(command: list[str]) -> None:
    """A server command (initdb, pg_ctl) as the postgres user when this runs as root. Debian keeps
    them off PATH, under /usr/lib/postgresql/<version>/bin."""
    program = shutil.which(command[0]) or max(Path("/usr/lib/postgresql").glob(f"*/bin/{command[0]}"), default=None)
    if program is None:
        raise RuntimeError(f"{command[0]} was not found: install PostgreSQL's server (Debian: postgresql).")
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, str(program), *command[1:]], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
