#!/bin/bash
# Runs once, when the postgres volume is first created: Airflow and MLflow keep their metadata
# in two databases of the one server, owned by the user docker-compose.yml creates.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE DATABASE mlflow OWNER "$POSTGRES_USER";
SQL
