"""The dbt project as the one definition of the schema: the ml package's feature list, the
names analysts filter on, and the segment rules (dbt unit tests), all without building data."""

from __future__ import annotations

import json
from datetime import date

import pytest
import yaml

from ml import settings as settings_module
from ml.data import dbt_graph, dbt_runner
from ml.models.clv import CLV_FEATURES
from ml.models.features import INPUT_COLUMNS, LABEL_COLUMNS, LOG_CLV_FEATURES, NOT_MODEL_INPUTS, PLAIN_CLV_FEATURES
from ml.models.tiers import VALUE_TIERS
from ml.settings import PROJECT_DIR


@pytest.fixture(scope="module")
def dbt_unit_run(tmp_path_factory):
    """`dbt test --select test_type:unit` on an empty warehouse: parses the project (the
    manifest) and runs the unit tests, whose inputs are SQL, so no data is needed."""
    home = tmp_path_factory.mktemp("schema_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLM_HOME", str(home))
        settings = settings_module.load()
    completed = dbt_runner.run_dbt(["test", "--select", "test_type:unit"], date(2026, 1, 1), settings)
    target = dbt_runner.target_path(settings)
    return completed, json.loads((target / "manifest.json").read_text()), json.loads((target / "run_results.json").read_text())


def columns(manifest: dict, model: str) -> list[str]:
    return list(manifest["nodes"][f"model.clm.{model}"]["columns"])


@pytest.mark.slow  # dbt parses the project and runs its unit tests (6 s)
def test_the_models_inputs_are_the_feature_columns_dbt_documents(dbt_unit_run):
    _, manifest, _ = dbt_unit_run
    features = columns(manifest, "customer_features")
    # Every input is a documented customer_features column, or a clv feature computed in ml/models/clv.py.
    assert sorted(LOG_CLV_FEATURES + PLAIN_CLV_FEATURES) == sorted(CLV_FEATURES)
    assert sorted((set(INPUT_COLUMNS) - set(CLV_FEATURES)) | set(NOT_MODEL_INPUTS)) == sorted(features)
    assert columns(manifest, "training_examples") == features + list(LABEL_COLUMNS)
    described = manifest["nodes"]["model.clm.customer_features"]["columns"]
    assert all(spec["description"] for spec in described.values())


def test_names_analysts_filter_on_are_defined_once_in_the_dbt_project():
    project = yaml.safe_load((PROJECT_DIR / "dbt_project" / "dbt_project.yml").read_text())["vars"]
    assert tuple(project["value_tiers"]) == VALUE_TIERS
    seed = (PROJECT_DIR / "dbt_project" / "seeds" / "rfm_segments.csv").read_text().splitlines()[1:]
    assert {line.split(",", 2)[2] for line in seed} == set(project["rfm_segment_names"])
    for path in (PROJECT_DIR / "dbt_project").glob("models/**/*.yml"):
        text = path.read_text()
        for name in ("'high'", '"high"', "Can''t Lose Them", '"at risk"'):
            assert name not in text, f"{path.name} spells out {name}: use the var instead"


@pytest.mark.slow  # the same dbt run
def test_segment_rules_pass_their_dbt_unit_tests(dbt_unit_run):
    completed, _, results = dbt_unit_run
    statuses = {r["unique_id"].split(".")[-1]: r["status"] for r in results["results"]
                if r["unique_id"].startswith("unit_test.")}
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert statuses == {"lifecycle_stage_rules_first_match_wins": "pass",
                        "rfm_scores_are_quintiles_among_buyers": "pass",
                        "historic_value_tiers_split_buyers_50_30_20": "pass",
                        "review_sentiment_segments_split_at_a_third": "pass"}


@pytest.mark.slow  # two `dbt ls` runs
def test_the_dags_model_tasks_are_the_nodes_and_refs_dbt_sees(dbt_unit_run, tmp_path, monkeypatch):
    _, manifest, _ = dbt_unit_run
    ours = dbt_graph.project_nodes(PROJECT_DIR / "dbt_project")
    theirs = {node["name"]: node for node in manifest["nodes"].values() if node["resource_type"] in {"model", "seed"}}
    assert set(ours) == set(theirs)
    for name, node in ours.items():
        refs = theirs[name].get("depends_on", {}).get("nodes", [])
        assert set(node.parents) == {p.split(".")[-1] for p in refs if not p.startswith("source.")}

    # Each stage's tasks are the nodes its selector makes dbt build.
    monkeypatch.setenv("CLM_HOME", str(tmp_path))
    settings = settings_module.load()
    for selector in (dbt_runner.FEATURE_SELECTOR, dbt_runner.MARTS_SELECTOR):
        listed = dbt_runner.run_dbt(["ls", "--quiet", "--resource-type", "model", "--resource-type", "seed",
                                    "--output", "name", "--select", *selector.split()], date(2026, 1, 1), settings)
        assert listed.returncode == 0, listed.stdout[-2000:]
        assert set(dbt_graph.select(ours, selector)) == set(listed.stdout.split())
