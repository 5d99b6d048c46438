"""clm serve, the support desk's API: the real server over real HTTP on a real run's analysts'
database and registered classifiers, and its templates and offers on their own."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import pytest

from ml import settings as settings_module
from ml.data.contract import ticket_intents
from ml.models.features import SENTIMENTS
from ml.serve import replies
from ml.serve.context import Customer
from ml.serve.server import start, token
from tests.conftest import clm, clm_env, free_port

TOKEN = "test-token-0123456789"
TEMPLATES = replies.load(replies.DEFAULT, ticket_intents())
CUSTOMER = Customer(customer_id="7", as_of="2026-01-01", segment="At Risk", lifecycle_stage="at risk",
                    value_tier="high", churn_probability=0.9, churn_reasons=["r1", "r2", "r3"], action="coupon",
                    campaign="coupon", in_holdout=False, treated=True, risk_band="high",
                    recommendations=[{"product_id": "1", "product_name": "Tea", "category": "grocery"},
                                     {"product_id": "2", "product_name": "Mug", "category": "home"}],
                    latest_purchases=[{"product_id": "3", "product_name": "Kettle", "last_purchased_on": "2025-12-01"}])


def test_a_retention_offer_is_drafted_unless_the_customer_is_held_out_or_has_none():
    made = replies.draft(TEMPLATES, "cancel_or_unsubscribe", CUSTOMER)
    assert made.offer_made and TEMPLATES.offers["coupon"] in made.text and "'coupon'" in made.why
    held_out = replies.draft(TEMPLATES, "cancel_or_unsubscribe", replace(CUSTOMER, in_holdout=True, treated=False))
    assert not held_out.offer_made and TEMPLATES.offers["coupon"] not in held_out.text
    assert "holdout of the campaign 'coupon'" in held_out.why
    nothing = replies.draft(TEMPLATES, "praise", replace(CUSTOMER, action="no action", treated=False))
    assert not nothing.offer_made and "next best action is no action" in nothing.why
    assert "Tea and Mug" in nothing.text and "  " not in nothing.text
    assert "Kettle did not work out" in replies.draft(TEMPLATES, "return_or_refund", CUSTOMER).text


def test_templates_that_cannot_be_used_are_named_with_what_to_fix(tmp_path):
    path = tmp_path / "replies.yml"
    path.write_text("intents:\n  praise: 'Thanks {first_name}!'\n  complaint: 7\n")
    with pytest.raises(replies.TemplatesError) as refused:
        replies.load(path, ticket_intents())
    said = str(refused.value)
    assert "no template for where_is_my_order" in said and "intents.praise uses {first_name}" in said
    assert "intents.complaint is not text" in said and "\n" not in said


def test_the_token_is_made_once_for_its_owner_alone(tmp_path, monkeypatch):
    monkeypatch.delenv("CLM_SERVE_TOKEN", raising=False)
    monkeypatch.setenv("CLM_HOME", str(tmp_path))
    settings = settings_module.load()
    first, kept = token(settings)
    assert len(first) == 64 and str(tmp_path / "serve.token") in kept and first not in kept
    assert (tmp_path / "serve.token").stat().st_mode & 0o777 == 0o600
    assert token(settings)[0] == first


@dataclass
class Served:
    url: str
    db: Path
    log: Path
    pid: int


def call(url: str, body: bytes | dict | None, token: str | None = TOKEN) -> tuple[int, dict, dict]:
    """Status, JSON and headers of one request over real HTTP."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


@pytest.fixture(scope="module")
def served(pipeline_home, tmp_path_factory):
    """`clm serve` on a copy of the pipeline's analysts' database, with its MLflow store."""
    work = tmp_path_factory.mktemp("serve")
    db = work / "analytics.duckdb"
    shutil.copy(pipeline_home / "analytics.duckdb", db)
    port, log = free_port(), work / "serve.log"
    env = {**clm_env(pipeline_home), "CLM_ANALYTICS_DB": str(db), "CLM_SERVE_TOKEN": TOKEN}
    process = start(env, port, log)
    url = f"http://127.0.0.1:{port}"
    try:
        yield Served(url, db, log, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


def chunked(url: str, body: dict) -> tuple[int, dict]:
    """POST `body` with chunked transfer encoding, stating no Content-Length."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    data = json.dumps(body).encode()
    try:
        connection.request("POST", "/v1/assist", body=(data[i:i + 4096] for i in range(0, len(data), 4096)),
                           headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
                           encode_chunked=True)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def one(db: Path, sql: str) -> tuple:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchone()


@pytest.mark.slow
def test_a_reply_knows_the_customer_and_makes_their_offer_unless_they_are_held_out(served):
    offered = one(served.db, "select customer_id from next_best_action where treated order by value_at_stake desc limit 1")[0]
    status, said, _ = call(f"{served.url}/v1/assist", {"customer_id": offered,
                                                        "message": "Please close my account, I am done with you."})
    assert status == 200, said
    with duckdb.connect(str(served.db), read_only=True) as con:
        segment = con.execute("select rfm_segment, lifecycle_stage, value_tier, cast(as_of as date)::varchar "
                              "from customer_segments where customer_id = ?", [offered]).fetchone()
        scores = con.execute("select churn_probability, churn_reason_1, churn_reason_2, churn_reason_3 "
                             "from customer_scores where customer_id = ? order by as_of desc limit 1", [offered]).fetchone()
        action = con.execute("select action, campaign, in_holdout from next_best_action where customer_id = ? "
                             "order by as_of desc limit 1", [offered]).fetchone()
        recommended = [r for (r,) in con.execute(
            "select product_id from recommendations where customer_id = ? and as_of = "
            "(select max(as_of) from recommendations) order by rank limit 3", [offered]).fetchall()]
    context = said["customer"]
    assert (context["segment"], context["lifecycle_stage"], context["value_tier"], said["as_of"]) == segment
    assert context["churn_probability"] == pytest.approx(scores[0])
    assert context["churn_reasons"] == [r for r in scores[1:] if r]
    assert (context["action"], context["campaign"], context["in_holdout"]) == action
    assert [r["product_id"] for r in context["recommendations"]] == recommended
    assert said["intent"]["name"] in ticket_intents() and 0 < said["intent"]["confidence"] <= 1
    assert said["intent"]["source"].startswith("clm-ticket-intent version ")
    started = served.log.read_text()  # both classifiers compiled: the server's default
    assert "intent: clm-ticket-intent version " in started and started.count(", compiled in ") == 2, started[:1500]
    assert said["sentiment"]["label"] in SENTIMENTS and -1 <= said["sentiment"]["score"] <= 1
    reply = said["reply"]
    assert reply["offer_made"] and TEMPLATES.offers[action[0]] in reply["draft"] and f"'{action[0]}'" in reply["why"]

    held_out = one(served.db, "select customer_id, campaign from next_best_action where in_holdout limit 1")
    status, said, _ = call(f"{served.url}/v1/assist", {"customer_id": held_out[0], "message": "Any discount for me?"})
    assert status == 200 and not said["reply"]["offer_made"]
    assert f"holdout of the campaign '{held_out[1]}'" in said["reply"]["why"]
    assert not any(offer in said["reply"]["draft"] for offer in TEMPLATES.offers.values())


@pytest.mark.slow
def test_bad_and_hostile_input_gets_one_plain_sentence_and_no_raw_pii_comes_back_or_is_logged(served):
    url = f"{served.url}/v1/assist"
    customer = one(served.db, "select min(customer_id) from customer_segments")[0]
    refused = {
        "unknown customer": (call(url, {"customer_id": "nobody-42", "message": "Hello"}), 404, "No customer 'nobody-42'"),
        "empty message": (call(url, {"customer_id": customer, "message": "   "}), 422, "1 to 2,000 characters"),
        "not text": (call(url, {"customer_id": customer, "message": 12345}), 422, "wrong or missing: message"),
        "no message": (call(url, {"customer_id": customer}), 422, "wrong or missing: message"),
        "not JSON": (call(url, b"customer_id=1&message=hi"), 422, "Send a JSON object"),
        "too long": (call(url, {"customer_id": customer, "message": "x" * 2001}), 413, "the limit is 2,000"),
        "too big": (call(url, {"customer_id": customer, "message": "x" * 20000}), 413, "the limit is 16,384"),
        "no token": (call(url, {"customer_id": customer, "message": "Hi"}, token=None), 401, "Authorization: Bearer"),
        "wrong token": (call(url, {"customer_id": customer, "message": "Hi"}, token="guess"), 401, "Authorization"),
    }
    for case, ((status, said, _), expected, words) in refused.items():
        assert status == expected and words in said["detail"], (case, status, said)
        assert "\n" not in said["detail"] and "Traceback" not in said["detail"] and "12345" not in said["detail"], case
    assert refused["no token"][0][2].get("www-authenticate") == "Bearer"
    status, said = chunked(served.url, {"customer_id": customer, "message": "x" * 20000})
    assert status == 413 and "the limit is 16,384" in said["detail"], said  # no Content-Length to refuse it by

    secret = "Reach me at jo.doe@mail.example or +44 20 7946 0958 about order 4711"
    status, said, _ = call(url, {"customer_id": customer, "message": secret})
    assert status == 200 and "jo.doe" not in json.dumps(said) and "7946" not in json.dumps(said)
    log = served.log.read_text()
    assert "jo.doe" not in log and "nobody-42" not in log and "Reach me" not in log
    assert " 401 " in log and " 413 " in log  # the access log names requests, never their bodies


@pytest.mark.slow
def test_it_keeps_answering_while_runs_replace_the_analysts_file(served, tmp_path):
    customer = one(served.db, "select min(customer_id) from customer_segments")[0]
    before = served.db.with_name("before.duckdb")
    after = served.db.with_name("after.duckdb")
    shutil.copy(served.db, before)
    shutil.copy(served.db, after)
    with duckdb.connect(str(after)) as con:
        con.execute("update customer_segments set rfm_segment = 'Swapped'")
    seen, failures, stop = set(), [], threading.Event()

    def ask():
        while not stop.is_set():
            status, said, _ = call(f"{served.url}/v1/assist", {"customer_id": customer, "message": "Where is my order?"})
            if status == 200:
                seen.add(said["customer"]["segment"])
            else:
                failures.append((status, said))

    askers = [threading.Thread(target=ask) for _ in range(4)]
    for asker in askers:
        asker.start()
    try:
        for swap in range(6):  # as publish does: the whole file renamed over the old one
            source = after if swap % 2 == 0 else before
            staged = served.db.with_name(f".staged{swap}.duckdb")
            shutil.copy(source, staged)
            os.replace(staged, served.db)
            time.sleep(1.5)
    finally:
        stop.set()
        for asker in askers:
            asker.join()
    shutil.copy(before, served.db)
    assert not failures, failures[:3]
    assert "Swapped" in seen and len(seen) == 2


@pytest.mark.slow
def test_the_api_documents_itself(served):
    with urllib.request.urlopen(f"{served.url}/openapi.json", timeout=30) as response:
        spec = json.loads(response.read())
    assert "/v1/assist" in spec["paths"] and "Assist" in spec["components"]["schemas"]
    with urllib.request.urlopen(f"{served.url}/docs", timeout=30) as response:
        assert "swagger" in response.read().decode().lower()


@pytest.mark.slow
def test_a_run_that_promotes_another_intent_classifier_is_answered_by_it(served, pipeline_home, monkeypatch):
    """A publish after a promotion: the server loads the new champion before its next batch."""
    monkeypatch.setenv("CLM_HOME", str(pipeline_home))
    settings = settings_module.load()
    name = settings.intent_model_name
    # Another version of the champion, registered in a process of its own: MLflow resolves the
    # model's source through its global tracking URI, which this process's other tests set.
    copied = subprocess.run([sys.executable, "-c", (
        "import mlflow; client = mlflow.MlflowClient(); "
        f"current = client.get_model_version_by_alias({name!r}, 'champion'); "
        f"print(client.create_model_version({name!r}, source=current.source, run_id=current.run_id).version)")],
        env={**clm_env(pipeline_home), "MLFLOW_TRACKING_URI": settings.tracking_uri},
        capture_output=True, text=True, check=True)
    version = copied.stdout.strip().splitlines()[-1]
    clm(pipeline_home, "promote", version, "--model", "intent")
    try:
        staged = served.db.with_name(".staged-promotion.duckdb")
        shutil.copy(served.db, staged)
        os.replace(staged, served.db)  # as a run's publish does
        wanted, deadline, sources = f"{name} version {version}", time.monotonic() + 300, set()
        while wanted not in sources and time.monotonic() < deadline:
            customer = one(served.db, "select min(customer_id) from customer_segments")[0]
            status, said, _ = call(f"{served.url}/v1/assist", {"customer_id": customer, "message": "Where is my order?"})
            assert status == 200, said
            sources.add(said["intent"]["source"])
            time.sleep(0.5)
        assert wanted in sources, sources
        assert call(f"{served.url}/v1/health", None)[1]["intent"] == wanted
        # Loaded by a second models' process while the first went on answering (every call above had its 200).
        assert f"now reading with {wanted}" in served.log.read_text()
    finally:
        clm(pipeline_home, "rollback", "--model", "intent")


def models_processes(server: int) -> list[int]:
    """The server's models' processes: its children that multiprocessing spawned to run a function."""
    children = [pid for task in Path(f"/proc/{server}/task").iterdir() for pid in (task / "children").read_text().split()]
    return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


@pytest.mark.slow
def test_a_models_process_that_dies_is_replaced_and_its_messages_answered(served):
    customer = one(served.db, "select min(customer_id) from customer_segments")[0]
    [models] = models_processes(served.pid)
    os.kill(models, signal.SIGKILL)  # as the kernel's OOM killer would
    status, said, _ = call(f"{served.url}/v1/assist", {"customer_id": customer, "message": "Where is my order?"})
    assert status == 200 and said["intent"]["source"].startswith("clm-ticket-intent version "), said
    [replacement] = models_processes(served.pid)
    assert replacement != models
    assert "the models' process stopped (exit code -9); starting another" in served.log.read_text()
