"""The ticket intent classifier: real MiniLM fine-tuning on the tiny shop's labelled tickets, a
real MLflow registry, and the keyword rules it is judged beside."""

from __future__ import annotations

from datetime import date

import mlflow
import pandas as pd
import pytest

from ml.data import warehouse
from ml.data.contract import ticket_intents
from ml.models import intent_keywords
from ml.training import ticket_intent
from ml.training.config import TrainConfig
from ml.training.registry import champion_version
from tests.conftest import TINY_TRAINING, clm

AS_OF = date(2026, 1, 1)
CUTOFF = pd.Timestamp("2025-10-03")  # as_of - 90 days, as the pipeline cuts


@pytest.fixture()
def registry(text_registry):
    return "ticket-intent-test"


def test_the_keyword_rules_name_each_intent_and_fall_back_to_a_question():
    said = intent_keywords.intents([
        "Please close my account, the last parcel arrived broken.",  # closing the account says most
        "I want a refund, the item was damaged.",
        "The item arrived broken. Thanks in advance.",
        "Where is my order 123?",
        "Any discount codes this month?",
        "Thank you, great service!",
        "Does it come in blue?",
    ])
    assert said.tolist() == ["cancel_or_unsubscribe", "return_or_refund", "complaint", "where_is_my_order",
                             "discount_request", "praise", "product_question"]
    assert {name for name, _ in intent_keywords.RULES} | {intent_keywords.DEFAULT} == set(ticket_intents())


def test_only_labelled_tickets_with_text_before_the_date_are_learnt_from(tiny_shop):
    tickets = warehouse.raw_tickets(tiny_shop, AS_OF)
    landed = pd.read_parquet(tiny_shop / "tickets.parquet")
    expected = landed[landed["intent"].notna() & (landed["created_at"] < pd.Timestamp(AS_OF))]
    assert len(tickets) == len(expected) > ticket_intent.TICKETS.min_texts
    assert set(tickets["intent"]) <= set(ticket_intents()) and tickets["created_at"].is_monotonic_increasing


@pytest.mark.slow
def test_the_classifier_learns_the_help_desks_labels_beside_the_keyword_rules_and_clm_rolls_it_back(
        tiny_shop, registry, tmp_path):
    tickets = warehouse.raw_tickets(tiny_shop, AS_OF)
    trained = ticket_intent.train(tickets, CUTOFF, TrainConfig(**TINY_TRAINING), "classifiers", registry)
    assert trained["trained"] and trained["champion"] and trained["reason"] == "first classifier"
    later = tickets[tickets["created_at"] >= CUTOFF]
    assert trained["evaluation_texts"] == len(later) > 20
    assert 0.5 < trained["macro_f1"] <= 1 and 0.5 < trained["keyword_macro_f1"] <= 1
    logged = mlflow.get_run(trained["run_id"]).data
    assert logged.metrics["keyword_macro_f1"] == pytest.approx(trained["keyword_macro_f1"])
    assert logged.params["task"] == "ticket_intent" and int(logged.params["train_tickets"]) == len(tickets) - len(later)

    # Through MLflow's generic interface: an intent, its probability and every intent's.
    model = mlflow.pyfunc.load_model(f"models:/{registry}@champion")
    said = model.predict(pd.DataFrame({"text": ["Please close my account and stop sending me emails.",
                                                "Where is my order 4711? It has been 9 days."]}))
    assert said["intent"].tolist() == ["cancel_or_unsubscribe", "where_is_my_order"]
    assert said[list(ticket_intents())].sum(axis=1).round(4).eq(1).all()
    assert (said["confidence"] == said[list(ticket_intents())].max(axis=1)).all()

    # A classifier that never took a step is registered, and the champion stays.
    untrained = ticket_intent.train(tickets, CUTOFF, TrainConfig(**{**TINY_TRAINING, "sentiment_train_minutes": 0}),
                                    "classifiers", registry)
    assert untrained["version"] == "2" and not untrained["champion"] and "later tickets" in untrained["reason"]
    intent_model = {"CLM_INTENT_MODEL_NAME": registry}
    clm(tmp_path, "promote", "2", "--model", "intent", env=intent_model)
    assert champion_version(registry) == "2"
    assert "rolled back to version 1" in clm(tmp_path, "rollback", "--model", "intent", env=intent_model).stdout
    assert champion_version(registry) == "1"


def test_too_few_labelled_tickets_leave_the_keyword_rules_in_charge(tiny_shop, registry):
    tickets = warehouse.raw_tickets(tiny_shop, AS_OF).head(ticket_intent.TICKETS.min_texts - 1)
    skipped = ticket_intent.train(tickets, CUTOFF, TrainConfig(**TINY_TRAINING), "classifiers", registry)
    assert not skipped["trained"] and "keyword rules" in skipped["reason"]
    assert champion_version(registry) is None
