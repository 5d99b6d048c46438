"""Support API benchmark: `clm serve` under many help desk clients at once, over loopback.

An analysts' database is generated (bench/dashboard.py's tables, plus the products and what
each customer bought) and two classifiers are registered as champions in a fresh MLflow store:
MiniLM with a new head for the ticket intents and one for the review sentiment. They are not
trained, since a trained head costs exactly the same time per message. The real server
(`clm serve`) is started in its own process, and clients in this process, each a thread
with a kept-alive connection, send synthetic tickets for random customers:

* `back to back`: every client sends its next message as soon as the last is answered (the
  most the server can take);
* `agents`: every client waits about a second between answers (0.5 to 1.5 s, drawn), like an
  agent reading the draft; the clients start at random moments within the first second.

Each scenario runs a warm-up, then `--seconds` of measurement; every request's latency is
kept. The clients share the machine's cores with the server.

    python bench/serve.py                      # 50 clients, 2,000 customers
    python bench/serve.py --clients 10 --seconds 10

Writes docs/benchmarks/serve.md (bench/report.py).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

import dashboard
import duckdb
import mlflow
import numpy as np
import report
from transformers import AutoTokenizer

from ml.data.contract import ticket_intents
from ml.data.synthetic_shop import ShopConfig, generate_shop
from ml.models.features import SENTIMENTS
from ml.models.networks import TextClassifier
from ml.models.pyfunc import REVIEW_SIGNATURE, TEXT_CLASSIFIER, ReviewSentimentPyfunc, TicketIntentPyfunc, intent_signature
from ml.models.text_classifier import Classifier
from ml.serve.server import start
from ml.training import registry
from ml.training.config import TrainConfig
from ml.training.tracking import log_pyfunc

TOKEN = "bench-token"
GOAL_MS = 200
WARM_UP_S = 5


def analysts_db(path: Path, customers: int) -> None:
    dashboard.generate(path, customers)
    with duckdb.connect(str(path)) as con:
        con.execute("""create table products as
            select 'p' || i::varchar as product_id, 'product ' || i::varchar as product_name, 'books' as category
            from range(5000) t(i)""")
        con.execute(f"""create table customer_products as
            select customer_id, 'p' || ((hash(customer_id) + k) % 5000)::varchar as product_id,
                   date '{dashboard.DATES[-1]}' as as_of, 1 + k as purchases, 0 as purchases_last_horizon,
                   timestamp '2025-01-01' + to_days(k::integer * 30) as first_purchased_at,
                   timestamp '2025-06-01' + to_days(k::integer * 30) as last_purchased_at
            from customer_segments cross join range(4) t(k)""")


def register(store: Path) -> None:
    """Untrained intent and sentiment classifiers, each its model's champion."""
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    mlflow.set_experiment(experiment_id=mlflow.create_experiment("bench", artifact_location=(store / "artifacts").as_uri()))
    config = TrainConfig()
    tokenizer = AutoTokenizer.from_pretrained(config.base_model)
    for name, labels, pyfunc, signature in (
            ("clm-ticket-intent", ticket_intents(), TicketIntentPyfunc(), intent_signature(ticket_intents())),
            ("clm-review-sentiment", SENTIMENTS, ReviewSentimentPyfunc(), REVIEW_SIGNATURE)):
        classifier = Classifier(TextClassifier(config.base_model, len(labels)), tokenizer, config.max_length, labels)
        with mlflow.start_run(), tempfile.TemporaryDirectory() as tmp:
            uri = log_pyfunc(pyfunc, classifier.save(Path(tmp) / "model"), signature, TEXT_CLASSIFIER)
        registry.promote(name, str(mlflow.register_model(uri, name).version), "bench")


def load(port: int, clients: int, seconds: float, think: float, customers: list[str], texts: list[str]) -> dict:
    """`clients` threads for a warm-up and then `seconds`: the measured requests' latencies."""
    latencies, errors, lock = [], [], threading.Lock()
    start = time.monotonic()
    measure_from, stop_at = start + WARM_UP_S, start + WARM_UP_S + seconds

    def client(seed: int) -> None:
        rng = np.random.default_rng(seed)
        if think:
            time.sleep(rng.uniform(0, think))
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
        while (now := time.monotonic()) < stop_at:
            body = json.dumps({"customer_id": customers[rng.integers(len(customers))],
                               "message": texts[rng.integers(len(texts))]})
            try:
                connection.request("POST", "/v1/assist", body, headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except OSError as error:
                status = str(error)
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            took = time.monotonic() - now
            if now >= measure_from:
                with lock:
                    (latencies if status == 200 else errors).append(took if status == 200 else status)
            if think:  # independent agents: each reads the draft for a while, not all in step
                time.sleep(rng.uniform(0.5, 1.5) * think)
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ms = np.asarray(latencies) * 1000
    return {"requests": len(ms), "lost": len(errors), "per second": len(ms) / seconds,
            "p50 ms": float(np.percentile(ms, 50)), "p95 ms": float(np.percentile(ms, 95)),
            "p99 ms": float(np.percentile(ms, 99)), "max ms": float(ms.max()),
            "errors": ", ".join(sorted({str(e) for e in errors})[:3])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        db = home / "analytics.duckdb"
        analysts_db(db, args.customers)
        register(home)
        with duckdb.connect(str(db), read_only=True) as con:
            customers = [c for (c,) in con.execute("select customer_id from customer_segments").fetchall()]
        texts = generate_shop(ShopConfig(customers=500))["tickets"]["text"].tolist()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {**os.environ, "CLM_HOME": str(home), "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
               "CLM_ANALYTICS_DB": str(db), "CLM_SERVE_TOKEN": TOKEN, "HF_HUB_OFFLINE": "1"}
        server = start(env, port, home / "serve.log")
        try:
            started = (home / "serve.log").read_text()
            precisions = [line.strip() for line in started.splitlines() if line.strip().startswith(("intent:", "sentiment:"))]
            print("\n".join(precisions), flush=True)
            rows = []
            for scenario, think in (("back to back", 0.0), ("agents (about 1 s between messages)", 1.0)):
                result = load(port, args.clients, args.seconds, think, customers, texts)
                rows.append({"scenario": scenario, "clients": args.clients, **result,
                             "goal": f"p95 < {GOAL_MS} ms: {'met' if result['p95 ms'] < GOAL_MS else 'missed'}"})
                print(rows[-1], flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    report.write("serve", "Support API under load", report.table(rows, floatfmt=",.1f"),
                 notes="\n".join(f"- {line}" for line in precisions)
                 + f"\n\n{args.customers:,} customers in the analysts' database; untrained MiniLM heads as the intent "
                       f"and sentiment champions (a trained head costs the same); {WARM_UP_S} s of warm-up, then "
                       f"{args.seconds:g} s measured per scenario; the clients run on the same cores as the server.")


if __name__ == "__main__":
    main()
