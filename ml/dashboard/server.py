"""How `clm dashboard` and `clm ui` start the app: Streamlit's server on localhost, headless,
without usage statistics (nothing leaves the machine) and without watching files for changes."""

from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).with_name("app.py")
HOST = "127.0.0.1"


def command(port: int, host: str = HOST) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.address", host, "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
            "--global.developmentMode", "false", "--client.toolbarMode", "viewer"]


def health_url(port: int, host: str = HOST) -> str:
    return f"http://{host}:{port}/_stcore/health"


def url(port: int, host: str = HOST) -> str:
    return f"http://{host}:{port}"
