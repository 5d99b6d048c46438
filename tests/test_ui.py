"""`clm ui` as a person uses it: start it, read the login it prints last, log in, see both
DAGs and their first scheduled runs start without a failure, press Ctrl+C, and find nothing
left running. The pages render in a real browser (Chromium: `make browser`; CI fails without it)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import duckdb
import pytest

from ml.run.processes import descendants, describe
from ml.run.ui import EXECUTION_API_PATIENCE, PATIENT
from tests.conftest import clm, clm_env, free_port, get_json

pytestmark = pytest.mark.e2e


def listening_addresses(port: int) -> set[str]:
    """The addresses something listens on at `port` (IPv4), from /proc/net/tcp."""
    addresses = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, local_port = local.split(":")
        if state == "0A" and int(local_port, 16) == port:
            addresses.add(".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0)))
    return addresses


def start_ui(home: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, int, int, list[str]]:
    """`clm ui` on free ports, read up to the login line it prints last. It starts with SIGINT
    ignored, as a shell script's `clm ui &` starts it, and must stop on SIGINT all the same."""
    airflow_port, mlflow_port = free_port(), free_port()
    ui = subprocess.Popen([str(Path(sys.executable).with_name("clm")), "ui", "--airflow-port", str(airflow_port),
                           "--mlflow-port", str(mlflow_port), "--dashboard-port", str(free_port())],
                          env={**clm_env(home), **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    lines = []
    while not (lines and lines[-1].startswith("log in to Airflow")):
        line = ui.stdout.readline()
        if not line:
            ui.kill()
            raise AssertionError(f"clm ui ended before printing the login:\n{''.join(lines)}")
        lines.append(line)
    return ui, airflow_port, mlflow_port, lines


def stop_ui(ui: subprocess.Popen) -> None:
    """Ctrl+C, and after a minute SIGKILL to whatever of it is left (found before its parent
    goes: orphans are no longer its descendants)."""
    left = descendants(ui.pid)
    if ui.poll() is None:
        ui.send_signal(signal.SIGINT)
        try:
            ui.wait(timeout=60)
        except subprocess.TimeoutExpired:
            ui.kill()
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_ui_is_light_local_prints_the_login_last_and_stops_cleanly(pipeline_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(pipeline_home, home)
    ui, airflow_port, mlflow_port, lines = start_ui(home)
    try:
        password = lines[-1].split("password ")[1].split()[0]
        assert "Traceback" not in "".join(lines) and len(lines) <= 6

        running = descendants(ui.pid)
        # 25 for the Airflow and MLflow servers (57 with Airflow's defaults, 32 of them idle
        # workers), one for the dashboard, and the unpaused DAGs' first scheduled run may already
        # be running a task (a supervisor and the task's process, two executor slots at most).
        assert len(running) <= 30
        dashboard = next(line.split()[1] for line in lines if line.startswith("Dashboard:"))
        assert listening_addresses(airflow_port) == listening_addresses(int(dashboard.rsplit(":", 1)[1])) == {"127.0.0.1"}

        token = get_json(f"http://127.0.0.1:{airflow_port}/auth/token",
                         body={"username": "admin", "password": password})["access_token"]
        dags = get_json(f"http://127.0.0.1:{airflow_port}/api/v2/dags", token)["dags"]
        assert {d["dag_id"] for d in dags} == {"clm_daily", "clm_training"}
        assert not any(d["is_paused"] for d in dags)  # the scheduler runs them
        # A task's log reads in the UI: the score step's progress lines, not "Log file not found".
        run_id = clm_run_id(airflow_port, token)
        log = get_json(f"http://127.0.0.1:{airflow_port}/api/v2/dags/clm_daily/dagRuns/{quote(run_id)}"
                       "/taskInstances/score/logs/1", token)
        assert "scored 250 of 250 customers" in json.dumps(log) and "not found" not in json.dumps(log).lower()
        with urllib.request.urlopen(f"http://127.0.0.1:{mlflow_port}/", timeout=30) as page:
            assert page.status == 200

        # The scheduler starts the latest day's and week's runs; the first to start takes CLM_HOME.
        lease, deadline = home / "pipeline.lease", time.monotonic() + 120
        while not lease.exists() and time.monotonic() < deadline:
            time.sleep(1)
        assert lease.read_text().startswith(("clm_daily/scheduled__", "clm_training/scheduled__"))
        # Both DAGs' first scheduled runs got their first task going (the second waits for
        # CLM_HOME), and nothing failed: no task was queued before the API server answered.
        started = first_tasks_started(airflow_port, token)
        assert started == {"clm_daily", "clm_training"}, f"first tasks started in {started} only"
        assert failures(airflow_port, token) == []
        # Deterministically so: the first task was queued after the API server listened (a task
        # queued before it gets a few seconds of retries, which a slow start outlasts).
        assert first_queued(airflow_port, token) > api_server_listening(home / "logs" / "ui.log", airflow_port)
        busy = clm(home, "run", "--as-of", "2026-01-01", check=False)
        assert busy.returncode == 1 and "the Airflow run clm_" in busy.stderr and "is using" in busy.stderr

        ui.send_signal(signal.SIGINT)
        assert stopped(ui, within=90) == 0
        rest = ui.stdout.read()
        assert "Traceback" not in rest
        time.sleep(1)
        # Nothing with this home is left, the task processes the scheduler started last included.
        assert processes_of(home) == []
        assert not lease.exists()  # the runs it left unfinished hold nothing
    finally:
        stop_ui(ui)


def stopped(ui: subprocess.Popen, within: float) -> int:
    """`clm ui`'s exit status once it stopped; if it does not within `within` seconds, fail
    with where its threads are (it prints them on SIGUSR1) and the processes below it."""
    try:
        return ui.wait(timeout=within)
    except subprocess.TimeoutExpired:
        left = sorted(descendants(ui.pid))
        below = [describe(pid) for pid in left]
        ui.send_signal(signal.SIGUSR1)
        time.sleep(2)
        for pid in [ui.pid, *left]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        raise AssertionError(f"clm ui did not stop within {within:.0f} s of Ctrl+C. Its output:\n{ui.stdout.read()}\n"
                             "Processes below it:\n" + "\n".join(below)) from None


def first_tasks_started(airflow_port: int, token: str, within: float = 180) -> set[str]:
    """The DAGs whose scheduled runs' first task (check_raw) is running or done, waiting up to
    `within` seconds for both; the fixture's own (manual) run does not count."""
    deadline = time.monotonic() + within
    while True:
        tis = get_json(f"http://127.0.0.1:{airflow_port}/api/v2/dags/~/dagRuns/~/taskInstances?task_id=check_raw"
                       "&limit=100", token)["task_instances"]
        started = {ti["dag_id"] for ti in tis
                   if not ti["dag_run_id"].startswith("manual__") and ti["state"] in ("running", "success")}
        if started == {"clm_daily", "clm_training"} or time.monotonic() > deadline:
            return started
        time.sleep(2)


def first_queued(airflow_port: int, token: str) -> datetime:
    """When the scheduler first queued a task of a scheduled run."""
    tis = get_json(f"http://127.0.0.1:{airflow_port}/api/v2/dags/~/dagRuns/~/taskInstances"
                   "?run_id_pattern=scheduled__&limit=100", token)["task_instances"]
    return min(datetime.fromisoformat(ti["queued_when"]) for ti in tis if ti["queued_when"])


def api_server_listening(log: Path, airflow_port: int) -> datetime:
    """When Airflow's API server began to listen, from `airflow standalone`'s output."""
    line = re.compile(rf"^api-server \| (\S+) .*Uvicorn running on http://127\.0\.0\.1:{airflow_port}\b", re.M)
    return datetime.fromisoformat(line.search(log.read_text()).group(1))


def failures(airflow_port: int, token: str) -> list[str]:
    """Every failed scheduled run and every failed or retried task instance of one, as "dag run
    task: state". The home's earlier `clm run`s (manual runs, some failed on purpose by other
    tests) do not count."""
    airflow = f"http://127.0.0.1:{airflow_port}/api/v2/dags/~/dagRuns"
    runs = get_json(f"{airflow}?state=failed&run_type=scheduled&limit=100", token)["dag_runs"]
    tis = get_json(f"{airflow}/~/taskInstances?state=failed&state=upstream_failed&state=up_for_retry"
                   "&run_id_pattern=scheduled__&limit=100", token)["task_instances"]
    return ([f"{r['dag_id']} {r['dag_run_id']}: failed" for r in runs if r["dag_run_id"].startswith("scheduled__")]
            + [f"{ti['dag_id']} {ti['dag_run_id']} {ti['task_id']}: {ti['state']}" for ti in tis
               if ti["dag_run_id"].startswith("scheduled__")])


def test_a_task_process_outlasts_an_execution_api_that_is_not_up_yet(tmp_path):
    """The task SDK's client, with the settings `clm ui` gives Airflow, keeps trying an API
    server that starts listening seconds after the task's first request (connection refused)."""
    port = free_port()
    probe = subprocess.Popen([sys.executable, "-c", CLIENT_PROBE, f"http://127.0.0.1:{port}/execution/"],
                             env={**clm_env(tmp_path), **PATIENT, "AIRFLOW_HOME": str(tmp_path / "airflow")},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(20)  # Airflow's default five tries would be spent by now (15 s at the most)
        assert probe.poll() is None, probe.communicate()
        server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                   "--directory", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            out, err = probe.communicate(timeout=EXECUTION_API_PATIENCE)
        finally:
            server.kill()
            server.wait()
        assert probe.returncode == 0 and out.strip().splitlines()[-1] == "answered 404", (out + err)[-3000:]
    finally:
        probe.kill()


# A request as a task's supervisor makes it, through the task SDK's HTTP client and its retries.
CLIENT_PROBE = """
import sys
import httpx
from airflow.sdk.api.client import Client
client = Client(base_url=sys.argv[1], token="")
try:
    client.get("health")
except httpx.HTTPStatusError as error:  # any answer at all: the server was reached
    print("answered", error.response.status_code)
"""


def clm_run_id(airflow_port: int, token: str) -> str:
    """The daily run `clm run` made (the fixture's); the scheduler may have started others since."""
    runs = get_json(f"http://127.0.0.1:{airflow_port}/api/v2/dags/clm_daily/dagRuns?order_by=start_date", token)
    return next(r["dag_run_id"] for r in runs["dag_runs"] if r["run_type"] == "manual")


def processes_of(home: Path) -> list[str]:
    """The command lines of the live processes that run for `home` (CLM_HOME in their environment)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        with contextlib.suppress(OSError):
            if f"CLM_HOME={home}".encode() in environ.read_bytes().split(b"\0") and not zombie(int(environ.parent.name)):
                found.append((environ.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode())
    return found


def zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def browse(url: str, screenshot: Path, expect: str) -> str:
    """The page as headless Chromium renders it once its scripts ran: a screenshot to look at,
    and the DOM. A page still loading its data is loaded again, as a person would, up to three
    times, until `expect` shows."""
    common = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
              "--virtual-time-budget=20000"]
    for _ in range(3):
        dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=120,
                             check=True).stdout
        if expect in re.sub(r"<script.*?</script>", "", dom, flags=re.DOTALL):
            break
    subprocess.run([*common, f"--screenshot={screenshot}", url], capture_output=True, timeout=120, check=True)
    return dom


def require_chromium() -> None:
    """Skip without Chromium on a workstation; fail without it in CI (CI set, as CI services and
    .ci/run set it), where a skipped browser test would let a broken page pass."""
    if shutil.which("chromium") is None:
        message = "needs a browser: `make browser` installs Debian's chromium"
        if os.environ.get("CI", "").lower() in ("", "0", "false"):
            pytest.skip(message)
        pytest.fail(f"CI is set and there is no chromium on PATH: {message}")


@pytest.fixture(scope="session")
def chromium() -> None:
    """Chromium on PATH, checked before the session's shop is built (require_chromium)."""
    require_chromium()


def test_a_missing_browser_skips_on_a_workstation_and_fails_in_ci(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_chromium()
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/chromium")
    require_chromium()  # with a browser it runs, CI or not


def test_the_pages_a_person_opens_render_in_a_browser(chromium, pipeline_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(pipeline_home, home)
    shots = Path(os.environ.get("CLM_SCREENSHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    clm(home, "docs")
    # Every user is an admin here, so a browser without a login form can open the pages; the
    # scheduler starts no runs (the test above sees it start them), so the pages show clm's own.
    ui, airflow_port, mlflow_port, lines = start_ui(home, {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                                                           "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"})
    try:
        airflow = f"http://127.0.0.1:{airflow_port}"
        token = get_json(f"{airflow}/auth/token")["access_token"]
        run_id = clm_run_id(airflow_port, token)

        def page(path: str) -> str:
            return f"{airflow}/auth/token/login?next={quote(path)}"

        dags = browse(page("/dags"), shots / "airflow_dags.png", "clm_training")
        assert "clm_daily" in dags and "clm_training" in dags
        # The daily DAG's grid lists its tasks, the dbt models' groups among them.
        grid = re.sub(r"<script.*?</script>", "", browse(page("/dags/clm_daily"), shots / "airflow_daily_grid.png",
                                                         "validate_marts"), flags=re.DOTALL)
        assert all(task in grid for task in ("check_raw", "build_features", "features", "score", "marts", "publish"))
        log = browse(page(f"/dags/clm_daily/runs/{run_id}/tasks/score"), shots / "airflow_score_log.png",
                     "scored 250 of 250")
        assert "scored 250 of 250 customers" in log and "Log file not found" not in log
        docs = browse(page("/dags/clm_daily/details"), shots / "airflow_daily_docs.png", "clm_daily: score")
        assert "clm_daily: score every customer" in docs

        # The MLflow address clm ui prints opens on the training runs, with readable names.
        mlflow_url = next(line.split()[-1] for line in lines if line.startswith("MLflow UI:"))
        runs = browse(mlflow_url, shots / "mlflow_experiment.png", "candidates, holdout")
        assert "candidates, holdout" in runs and "review sentiment, cutoff" in runs and "Detect Issues" not in runs

        # The data dictionary opens from the file: the model's page lists its columns (text the
        # page rendered, not the manifest inlined in its scripts).
        model_page = (home / "dbt" / "target" / "static_index.html").as_uri() + "#!/model/model.clm.customer_features"
        dictionary = re.sub(r"<script.*?</script>", "", browse(model_page, shots / "dbt_docs.png", "recency_days"),
                            flags=re.DOTALL)
        assert "recency_days" in dictionary and "analytics.main.customer_features" in dictionary
        assert all((shots / name).stat().st_size > 10_000 for name in
                   ("airflow_dags.png", "airflow_daily_grid.png", "airflow_score_log.png", "airflow_daily_docs.png",
                    "mlflow_experiment.png", "dbt_docs.png"))

        # The dashboard, as a CRM marketer opens it on Monday morning.
        dashboard = next(line.split()[1] for line in lines if line.startswith("Dashboard:"))
        with duckdb.connect(str(home / "analytics.duckdb"), read_only=True) as con:
            top = con.execute("select customer_id, churn_reason_1, churn_reason_2, churn_reason_3 from churn_alerts "
                              "order by alert_rank limit 1").fetchone()
            action, customers = con.execute("select action, count(*) from next_best_action group by 1 "
                                            "order by 2 desc, 1 limit 1").fetchone()
        pages = dashboard_pages(dashboard, shots, {
            "overview": "Customers scored", "churn_alerts": top[1], "actions": action,
            "customer": f"Customer {top[0]} is in the", "model": "Drift of the mean churn probability"})
        first_alert = pages["churn_alerts"]["first row"]
        assert first_alert.split("\t")[:2] == ["1", top[0]] and all(reason in first_alert for reason in top[1:])
        assert any(row.split("\t")[:2] == [action, str(customers)] for row in pages["actions"]["rows"])
        assert "Customers scored" in pages["overview"]["text"] and "Mean churn probability" in pages["overview"]["text"]
        assert f"Customer {top[0]} is in the" in pages["customer"]["text"] and top[1] in pages["customer"]["text"]
        assert "Drift of the mean churn probability" in pages["model"]["text"]
        assert not any("Traceback" in page["text"] or "Error" in page["text"] for page in pages.values())
    finally:
        stop_ui(ui)


DASHBOARD = {"overview": "", "churn_alerts": "churn_alerts", "actions": "actions", "customer": "customer",
             "model": "model"}


def dashboard_pages(url: str, shots: Path, expect: dict[str, str]) -> dict[str, dict]:
    """Every dashboard page in headless Chromium (Playwright driving Debian's chromium), once
    its content drew: its text, its tables' rows (cells tab-separated) and a screenshot
    dashboard_<page>.png. Streamlit draws over a websocket after the page loads, so each page
    is waited for until the text `expect` names for it shows and its script has ended."""
    from playwright.sync_api import sync_playwright

    seen = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for name, path in DASHBOARD.items():
                page.goto(f"{url}/{path}")
                page.get_by_text(expect[name]).first.wait_for(timeout=60_000)
                # Streamlit marks the app as running until the script ends.
                page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(timeout=60_000)
                rows = ["\t".join(cell.inner_text().strip() for cell in row.locator("th, td").all())
                        for row in page.locator("table tr").all() if row.locator("td").count()]
                seen[name] = {"text": page.locator("body").inner_text(), "rows": rows,
                              "first row": rows[0] if rows else ""}
                page.screenshot(path=shots / f"dashboard_{name}.png")
        finally:
            browser.close()
    return seen
