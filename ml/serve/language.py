"""What a message says: its intent and its sentiment, from the registered champions.

The ticket intent classifier (`clm-ticket-intent`) names the intent; while none is trained the
keyword rules do (ml/models/intent_keywords.py). The review sentiment classifier
(`clm-review-sentiment`) reads the tone; while none is trained the sentiment is left out and the
answer says why. Messages arriving together are read together: one thread of the server takes
every message waiting and hands the batch to the models' process, which runs the two models side
by side on it. The models run in a process of their own because their passes, a few hundred small
torch calls each, would otherwise take turns on the GIL with the event loop that answers the
clients; there they are compiled (torch.compile) once loaded (docs/support.md, "Load").

When a run publishes (the analysts' file changes), the server looks up the champions; if one
changed, a second models' process loads and compiles the new ones while the first goes on
answering, and takes over once ready. A models' process that dies is replaced, and the batch it
had is read again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

import mlflow
import torch

from ml.analysts_file import first_line
from ml.data.synthetic_shop import TICKET_BODIES
from ml.models import intent_keywords
from ml.models.text_classifier import Classifier
from ml.training import registry

log = logging.getLogger(__name__)
MAX_BATCH = 64
RELOAD_RETRY_S = 60
START_TIMEOUT_S = 600  # loading, timing and compiling both champions, on a slow CPU
COMPILE_ENV = "CLM_SERVE_COMPILE"  # "0": the models run as loaded (a faster start, slower answers)
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
    """Which model reads one side of a message, as the server reports it."""

    version: str | None
    source: str
    precision: str = ""  # the precision timing chose, with every candidate's rate, and whether it is compiled


class ModelsUnavailable(RuntimeError):
    """The models cannot answer (their process could not start, or failed on a batch): the
    message says why."""


class Models:
    """The champions themselves, in the models' process: loaded, compiled, reading batches."""

    def __init__(self, names: dict[str, str], intents: tuple[str, ...], compile_models: bool):
        self.names, self.intents, self.compile_models = names, intents, compile_models
        self._beside = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="clm-serve-sentiment")
        self.loaded = {kind: self._load(kind) for kind in names}

    @property
    def champions(self) -> dict[str, Champion]:
        return {kind: champion for kind, (champion, _) in self.loaded.items()}

    def read(self, texts: list[str]) -> list[Reading]:
        """Both models at once, each on a core: one torch thread per model keeps either from
        waiting at every operation for a second thread the server's own work has delayed."""
        (intent, intent_classifier), (sentiment, sentiment_classifier) = self.loaded["intent"], self.loaded["sentiment"]
        if sentiment_classifier is not None:
            toned = self._beside.submit(sentiment_classifier.predict, texts)
        if intent_classifier is not None:
            said = intent_classifier.predict(texts)
            intents, confidences = said["label"].tolist(), said["confidence"].tolist()
        else:
            intents, confidences = intent_keywords.intents(texts).tolist(), [None] * len(texts)
        if sentiment_classifier is not None:
            tone = toned.result()
            labels, scores = tone["label"].tolist(), (tone["positive"] - tone["negative"]).tolist()
        else:
            labels, scores = [None] * len(texts), [None] * len(texts)
        return [Reading(i, c, intent.source, label, score, sentiment.source)
                for i, c, label, score in zip(intents, confidences, labels, scores, strict=True)]

    def _load(self, kind: str) -> tuple[Champion, Classifier | None]:
        name = self.names[kind]
        version = registry.champion_version(name)
        if version is None:
            return Champion(None, "keyword rules (no intent classifier trained yet)" if kind == "intent"
                            else f"none: no review sentiment classifier trained yet ({name})"), None
        classifier = mlflow.pyfunc.load_model(f"models:/{name}/{version}").unwrap_python_model().classifier
        if kind == "intent" and set(classifier.labels) - set(self.intents):
            raise ValueError(f"{name} version {version} predicts intents the var ticket_intents lacks "
                             f"({', '.join(sorted(set(classifier.labels) - set(self.intents)))}): train it again "
                             "(`clm train`) or roll it back (`clm rollback --model intent`).")
        classifier.batch_size = MAX_BATCH
        precision = classifier.choose_precision(SAMPLE_MESSAGES).describe("messages/s")
        if self.compile_models:
            try:
                precision += f", compiled in {classifier.compile(SAMPLE_MESSAGES):.0f} s"
            except Exception as error:  # no C++ compiler, say: the model answers as loaded
                precision += f", not compiled ({first_line(error)})"
                log.warning("%s: %s version %s runs uncompiled: %s", kind, name, version, first_line(error))
        return Champion(version, f"{name} version {version}", precision), classifier


def notes_to_stderr() -> None:
    """clm's own notes (a champion replaced, a models' process started again) among uvicorn's lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    notes = logging.getLogger("ml")
    notes.addHandler(handler)
    notes.setLevel(logging.INFO)


def _models_process(connection: Connection, names: dict[str, str], intents: tuple[str, ...], tracking_uri: str,
                    compile_models: bool) -> None:
    """The models' process: loads the champions, then reads the batches the server sends, one at a
    time, until the server goes away. Ctrl+C reaches the whole process group; the server stops
    this process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    notes_to_stderr()
    mlflow.set_tracking_uri(tracking_uri)
    torch.set_num_threads(1)  # per model: Models.read runs the two side by side
    try:
        models = Models(names, intents, compile_models)
    except Exception as error:
        connection.send(("failed", first_line(error)))
        return
    connection.send(("ready", models.champions))
    while True:
        try:
            texts = connection.recv()
        except (EOFError, OSError):  # the server stopped
            return
        try:
            connection.send(("done", models.read(texts)))
        except Exception as error:  # the batch's requests get the error; the process goes on
            log.exception("reading %d message(s) failed", len(texts))
            connection.send(("failed", first_line(error)))


@dataclass
class ModelsProcess:
    """A models' process as the server holds it: the pipe to it and the champions it loaded."""

    process: multiprocessing.Process
    connection: Connection
    champions: dict[str, Champion]

    @classmethod
    def start(cls, names: dict[str, str], intents: tuple[str, ...], tracking_uri: str) -> ModelsProcess:
        """A new models' process, returned once it has loaded the champions."""
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or locks inherited
        ours, theirs = context.Pipe()
        process = context.Process(target=_models_process, name="clm-serve-models", daemon=True,
                                  args=(theirs, names, intents, tracking_uri, os.environ.get(COMPILE_ENV) != "0"))
        process.start()
        theirs.close()
        try:
            if not ours.poll(START_TIMEOUT_S):
                raise ModelsUnavailable(f"The models' process loaded nothing in {START_TIMEOUT_S} s.")
            try:
                status, answer = ours.recv()
            except EOFError:
                process.join(5)
                raise ModelsUnavailable(f"The models' process stopped while loading the champions (exit code "
                                        f"{process.exitcode}).") from None
            if status != "ready":
                raise ModelsUnavailable(f"A champion could not be loaded: {answer}")
        except ModelsUnavailable:
            process.kill()
            ours.close()
            raise
        return cls(process, ours, answer)

    def read(self, texts: list[str]) -> list[Reading]:
        """The batch's readings; EOFError or OSError when the process has died."""
        self.connection.send(texts)
        status, answer = self.connection.recv()
        if status == "failed":
            raise ModelsUnavailable(f"The models could not read the messages ({answer}); send them again.")
        return answer

    def stop(self) -> None:
        self.connection.close()  # the process sees the pipe close and returns
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()


def _settle(futures: list[tuple[int, asyncio.Future]], outcome: list[Reading] | Exception) -> None:
    """On the event loop: each request still waiting (its client may have gone) gets its reading,
    or the batch's error."""
    for at, future in futures:
        if future.done():
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome[at])


class Reader:
    """Reads messages in batches: gathered on a thread of the server, read in the models' process."""

    def __init__(self, intent_model: str, sentiment_model: str, intents: tuple[str, ...]):
        self._names = {"intent": intent_model, "sentiment": sentiment_model}
        self._intents, self._tracking_uri = intents, mlflow.get_tracking_uri()
        self._models = self._start_models()
        self._replacing = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="clm-serve-replacement")
        self._replacement: concurrent.futures.Future | None = None
        self._swaps_seen = 0
        self._stale = threading.Event()
        self._retry_at = 0.0
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._work, name="clm-serve-reader", daemon=True).start()

    @property
    def champions(self) -> dict[str, Champion]:
        return self._models.champions

    async def read(self, text: str) -> Reading:
        future = asyncio.get_running_loop().create_future()
        self._queue.put((text, future))
        return await future

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
            try:
                self._take_over_or_look()
                outcome: list[Reading] | Exception = self._read([text for text, _ in batch])
            except Exception as error:  # every request of the batch gets the error, the worker goes on
                log.exception("reading %d message(s) failed", len(batch))
                outcome = error
            for loop in {future.get_loop() for _, future in batch}:
                # One wake-up of the event loop per batch, not one per message; none once it has stopped.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_settle, [(i, future) for i, (_, future) in enumerate(batch)
                                                        if future.get_loop() is loop], outcome)

    def _read(self, texts: list[str]) -> list[Reading]:
        """The batch read by the models' process; if it has died (killed for memory, say), by a
        new one."""
        try:
            return self._models.read(texts)
        except (EOFError, OSError):
            self._models.stop()
            log.error("the models' process stopped (exit code %s); starting another", self._models.process.exitcode)
            self._models = self._start_models()
            log.info("now reading with %s", self._sources(precision=True))
            return self._models.read(texts)

    def _take_over_or_look(self) -> None:
        """Hand the batches to a replacement that is ready; else, after a publish, look up the
        champions and start a replacement if one changed. A replacement that fails to load leaves
        the models answering as they were; the look is tried again a minute later."""
        if self._replacement is not None and self._replacement.done():
            replacement, self._replacement = self._replacement, None
            try:
                new = replacement.result()
            except Exception as error:
                log.warning("kept %s; the new champions did not load (%s), tried again in %d s", self._sources(),
                            first_line(error), RELOAD_RETRY_S)
                self._look_again_later()
                return
            old, self._models = self._models, new
            self._replacing.submit(old.stop)  # its last batch is answered; its exit is not waited for here
            log.info("now reading with %s", self._sources(precision=True))
        if self._replacement is not None or not self._stale.is_set() or time.monotonic() < self._retry_at:
            return
        self._stale.clear()
        try:
            changed = [kind for kind, name in self._names.items()
                       if registry.champion_version(name) != self._models.champions[kind].version]
        except Exception as error:  # the registry unreachable
            log.warning("could not look up the champions (%s), tried again in %d s", first_line(error), RELOAD_RETRY_S)
            self._look_again_later()
            return
        if changed:
            log.info("new champion for %s: loading it beside the models answering now", " and ".join(changed))
            self._replacement = self._replacing.submit(self._start_models)

    def _start_models(self) -> ModelsProcess:
        return ModelsProcess.start(self._names, self._intents, self._tracking_uri)

    def _look_again_later(self) -> None:
        self._retry_at = time.monotonic() + RELOAD_RETRY_S
        self._stale.set()

    def _sources(self, precision: bool = False) -> str:
        return " and ".join(champion.source + (f" (at {champion.precision})" if precision and champion.precision else "")
                            for champion in self._models.champions.values())
