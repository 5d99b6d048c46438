"""`clm serve`: the API on localhost, its token and templates settled before it listens."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import uvicorn

from ml.data.contract import ticket_intents
from ml.serve import replies
from ml.serve.app import create_app
from ml.serve.context import Analysts
from ml.serve.language import Reader, notes_to_stderr
from ml.settings import Settings, owner_only_secret

TOKEN_ENV = "CLM_SERVE_TOKEN"
TOKEN_FILE = "serve.token"
TEMPLATES_ENV = "CLM_REPLY_TEMPLATES"


def token(settings: Settings) -> tuple[str, str]:
    """The bearer token callers must send, and where it is kept (never the token itself)."""
    if from_env := os.environ.get(TOKEN_ENV):
        return from_env, TOKEN_ENV
    path = settings.home / TOKEN_FILE
    return owner_only_secret(path), f"{path} (readable by its owner only)"


def templates_path() -> Path:
    return Path(os.environ.get(TEMPLATES_ENV) or replies.DEFAULT)


def serve(settings: Settings, host: str, port: int) -> None:
    notes_to_stderr()
    secret, kept = token(settings)
    intents = ticket_intents()
    templates = replies.load(templates_path(), intents)
    reader = Reader(settings.intent_model_name, settings.sentiment_model_name, intents)
    analysts = Analysts(settings.analytics_db)
    app = create_app(secret, analysts, reader, templates)
    print(f"clm serve of {settings.analytics_db} at http://{host}:{port}  (API docs at /docs; Ctrl+C stops it)\n"
          f"  token: {kept}\n  reply templates: {templates_path()}\n  customers: {analysts.warm()}"
          + "".join(f"\n  {kind}: {champion.source}" + (f", at {champion.precision}" if champion.precision else "")
                    for kind, champion in reader.champions.items()),
          flush=True)
    uvicorn.run(app, host=host, port=port, log_level="info")


def start(env: dict[str, str], port: int, log: Path, timeout: float = 600) -> subprocess.Popen:
    """`clm serve` in a process of its own, returned once it answers: for the scripts that drive
    the real server (its benchmark and tests). Its output goes to `log`."""
    with log.open("w") as out:
        process = subprocess.Popen([str(Path(sys.executable).with_name("clm")), "serve", "--port", str(port)],
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=5).close()
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"clm serve did not answer on port {port}:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.5)
