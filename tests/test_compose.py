"""docker-compose.yml for a team, checked without a Docker engine: it parses, every service
runs a command this project installs (or an image's own), every path it mounts or copies is in
the repository, and no secret is written in it: they come from .env, made from .env.example."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from ml.settings import PROJECT_DIR

COMPOSE = yaml.safe_load((PROJECT_DIR / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
VARIABLE = re.compile(r"\$\{(\w+)(:\?[^}]*)?\}")


def command_of(service: str) -> list[str]:
    return SERVICES[service].get("command") or []


def test_the_team_runs_airflow_mlflow_postgres_and_a_gpu_trainer():
    assert {"postgres", "airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
            "airflow-triggerer", "mlflow", "trainer"} <= set(SERVICES)
    scheduler = SERVICES["airflow-scheduler"]["environment"]
    assert scheduler["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert scheduler["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert "postgresql+psycopg2://" in " ".join(command_of("mlflow"))
    assert {"clm:/data/clm", "mlartifacts:/data/mlartifacts"} <= set(SERVICES["airflow-scheduler"]["volumes"])
    assert "mlartifacts:/data/mlartifacts" in SERVICES["mlflow"]["volumes"]
    [device] = SERVICES["trainer"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert command_of("trainer") == ["clm", "train"]


@pytest.mark.slow  # asks airflow, mlflow and clm themselves
def test_every_command_is_one_the_project_installs():
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]
    dependencies = {re.split(r"[=<>\[]", d)[0] for d in project["dependencies"]}
    airflow_commands = subprocess.run([str(Path(sys.executable).with_name("airflow")), "--help"],
                                      capture_output=True, text=True).stdout
    mlflow_server = subprocess.run([str(Path(sys.executable).with_name("mlflow")), "server", "--help"],
                                   capture_output=True, text=True).stdout
    for name in SERVICES:
        command = command_of(name)
        if not command:
            assert "image" in SERVICES[name] and name == "postgres"  # the image's own server
            continue
        program = command[0]
        assert program in project["scripts"] or program in dependencies, (name, program)
        if command[:2] == ["clm", "airflow"]:
            assert re.search(rf"^\s+{command[2]}\s", airflow_commands, re.M), (name, command)
        if program == "mlflow":
            for option in (word for word in command if word.startswith("--")):
                assert option in mlflow_server, (name, option)
    # `clm airflow` passes its arguments to Airflow with clm's settings.
    listed = subprocess.run([str(Path(sys.executable).with_name("clm")), "airflow", "config", "get-value", "core",
                             "dags_folder"], capture_output=True, text=True)
    assert listed.stdout.strip() == str(PROJECT_DIR / "dags")


def test_every_mounted_or_copied_path_is_in_the_repository():
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (PROJECT_DIR / source).exists(), (name, source)
            else:
                assert source in COMPOSE["volumes"], (name, source)
        if "build" in service:
            assert (PROJECT_DIR / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    dockerfile = (PROJECT_DIR / "docker" / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (PROJECT_DIR / source).exists(), source
    assert "team" in tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def test_no_secret_is_written_in_the_file_they_come_from_env():
    text = (PROJECT_DIR / "docker-compose.yml").read_text()
    example = dict(line.split("=", 1) for line in (PROJECT_DIR / ".env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    used = {match[1] for match in VARIABLE.finditer(text)}
    assert used == set(example) and all(value == "" for value in example.values())
    # Compose refuses to start while one is unset (`${NAME:?message}`), rather than using an empty one.
    assert {match[1] for match in VARIABLE.finditer(text) if match[2]} == used
    for name, service in SERVICES.items():
        environment = service.get("environment", {})
        for key, value in environment.items():
            if re.search(r"PASSWORD|SECRET|FERNET|KEY|TOKEN", key):
                assert VARIABLE.fullmatch(str(value)), (name, key, "must come from .env")
            # A connection string carries its password only as a reference to .env.
            for password in re.findall(r"://[^:/@]+:([^@]+)@", str(value)):
                assert VARIABLE.fullmatch(password), (name, key)
        for password in re.findall(r"://[^:/@]+:([^@]+)@", " ".join(command_of(name))):
            assert VARIABLE.fullmatch(password), name
    assert ".env" in (PROJECT_DIR / ".gitignore").read_text().split()


def test_nothing_is_queued_before_the_api_server_answers_and_tasks_outlast_its_restarts():
    """The scheduler, DAG processor and triggerer wait for the API server's healthcheck, and
    task processes keep trying its execution API as long as `clm ui` has them try."""
    from ml.run.ui import PATIENT

    assert "healthcheck" in SERVICES["airflow-apiserver"]
    for name in ("airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        assert SERVICES[name]["depends_on"]["airflow-apiserver"] == {"condition": "service_healthy"}, name
        assert SERVICES[name]["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}, name
        assert {key: SERVICES[name]["environment"][key] for key in PATIENT} == PATIENT, name
