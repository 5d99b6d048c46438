"""What a message says: its intent and its sentiment, from the registered champions.

The ticket intent classifier (`clm-ticket-intent`) names the intent; while none is trained the
keyword rules do (ml/models/intent_keywords.py). The review sentiment classifier
(`clm-review-sentiment`) reads the tone; while none is trained the sentiment is left out and the
answer says why. Messages arriving together are read together: one worker thread takes every
message waiting and runs each model once on the batch, which is what keeps a two-core machine
answering fifty clients at once. When a run publishes (the analysts' file changes), the worker
loads whichever champions changed before its next batch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from dataclasses import dataclass

import mlflow

from ml.data.synthetic_shop import TICKET_BODIES
from ml.models import intent_keywords
from ml.models.text_classifier import Classifier
from ml.training import registry

log = logging.getLogger(__name__)
MAX_BATCH = 64
RELOAD_RETRY_S = 60
# A batch takes every message that arrives within BATCH_GAP_S of the one before, for up to
# BATCH_WAIT_S: a model's pass costs nearly as much for 3 messages as for 30, and clients
# answered together come back a few milliseconds apart (docs/benchmarks/serve.md).
BATCH_GAP_S = 0.005
BATCH_WAIT_S = 0.05
# Messages of a help desk's length and wording, to time the precisions on when a model loads.
SAMPLE_MESSAGES = [body.format(order=48213, category="home", days=6)
                   for bodies in TICKET_BODIES.values() for body in bodies] * 2


@dataclass(frozen=True)
class Reading:
    intent: str
    intent_confidence: float | None  # None from the keyword rules, which give no probability
    intent_source: str
    sentiment: str | None
    sentiment_score: float | None  # P(positive) - P(negative)
    sentiment_source: str


@dataclass(frozen=True)
class Champion:
    classifier: Classifier | None
    version: str | None
    source: str
    precision: str = ""  # the precision timing chose, with every candidate's rate


class Reader:
    """Reads messages in batches on a thread of its own."""

    def __init__(self, intent_model: str, sentiment_model: str, intents: tuple[str, ...]):
        self.names = {"intent": intent_model, "sentiment": sentiment_model}
        self.intents = intents
        self.champions = {kind: self._load(kind) for kind in self.names}
        self._swaps_seen = 0
        self._stale = threading.Event()
        self._retry_at = 0.0
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._work, name="clm-serve-reader", daemon=True).start()

    async def read(self, text: str) -> Reading:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put((text, future))
        return await asyncio.wrap_future(future)

    def published(self, swaps: int) -> None:
        """Told how many published files the analysts' snapshot has read: when a new run has
        published, look for new champions before the next batch (the run may have promoted some)."""
        if swaps != self._swaps_seen:
            self._swaps_seen = swaps
            self._stale.set()

    def _work(self) -> None:
        while True:
            batch = [self._queue.get()]
            gathered_by = time.monotonic() + BATCH_WAIT_S
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get(timeout=min(BATCH_GAP_S, max(gathered_by - time.monotonic(), 0))))
                except queue.Empty:
                    break
            self._reload_if_stale()
            waiting = [(text, future) for text, future in batch if future.set_running_or_notify_cancel()]
            try:
                readings = self._read([text for text, _ in waiting])
            except Exception as error:  # every waiting request gets the error, the worker goes on
                log.exception("reading %d message(s) failed", len(waiting))
                for _, future in waiting:
                    future.set_exception(error)
                continue
            for (_, future), reading in zip(waiting, readings, strict=True):
                future.set_result(reading)

    def _reload_if_stale(self) -> None:
        """Load the champions that changed since the last look. One that fails to load (the
        registry unreachable, a model this server cannot use) leaves the one before it answering;
        the look is tried again a minute later, and until then each batch goes on."""
        if not self._stale.is_set() or time.monotonic() < self._retry_at:
            return
        self._stale.clear()
        for kind, name in self.names.items():
            try:
                if registry.champion_version(name) != self.champions[kind].version:
                    self.champions[kind] = self._load(kind)
                    log.info("%s: now %s at %s", kind, self.champions[kind].source, self.champions[kind].precision)
            except Exception as error:
                log.warning("%s: kept %s; the new champion of %s did not load (%s), tried again in %d s", kind,
                            self.champions[kind].source, name, str(error).splitlines()[0], RELOAD_RETRY_S)
                self._retry_at = time.monotonic() + RELOAD_RETRY_S
                self._stale.set()

    def _read(self, texts: list[str]) -> list[Reading]:
        intent, sentiment = self.champions["intent"], self.champions["sentiment"]
        if intent.classifier is not None:
            said = intent.classifier.predict(texts)
            intents, confidences = said["label"].tolist(), said["confidence"].tolist()
        else:
            intents, confidences = intent_keywords.intents(texts).tolist(), [None] * len(texts)
        if sentiment.classifier is not None:
            tone = sentiment.classifier.predict(texts)
            labels, scores = tone["label"].tolist(), (tone["positive"] - tone["negative"]).tolist()
        else:
            labels, scores = [None] * len(texts), [None] * len(texts)
        return [Reading(i, c, intent.source, label, score, sentiment.source)
                for i, c, label, score in zip(intents, confidences, labels, scores, strict=True)]

    def _load(self, kind: str) -> Champion:
        name = self.names[kind]
        version = registry.champion_version(name)
        if version is None:
            return Champion(None, None, "keyword rules (no intent classifier trained yet)" if kind == "intent"
                            else f"none: no review sentiment classifier trained yet ({name})")
        classifier = mlflow.pyfunc.load_model(f"models:/{name}/{version}").unwrap_python_model().classifier
        classifier.batch_size = MAX_BATCH
        choice = classifier.choose_precision(SAMPLE_MESSAGES)
        if kind == "intent" and set(classifier.labels) - set(self.intents):
            raise ValueError(f"{name} version {version} predicts intents the var ticket_intents lacks "
                             f"({', '.join(sorted(set(classifier.labels) - set(self.intents)))}): train it again "
                             "(`clm train`) or roll it back (`clm rollback --model intent`).")
        return Champion(classifier, version, f"{name} version {version}", choice.describe("messages/s"))
