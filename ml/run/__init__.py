"""The run: the pipeline's steps (plain functions, each recording its outcome), the Airflow
tasks and DAG docs built from them, `clm` and its DAG runs through Airflow, the pipeline's lock
and lease, the UIs and their processes, and the summary a run ends with. Imports any wing."""
