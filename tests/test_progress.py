"""Progress lines of long steps: what is done, the rate, the time left; into the step's record."""

from datetime import date

import pytest

from ml import runstatus
from ml import settings as settings_module
from ml.progress import Progress, duration


def test_a_line_says_how_far_how_fast_and_how_long_still():
    progress = Progress("scored", "customers", 100_000, started=0.0)
    assert progress.line(40_000, now=64.0) == "scored 40,000 of 100,000 customers (40%), 625.0 customers/s, about 1 min 36 s left"
    assert Progress("dbt built", "nodes", None, started=0.0).line(12, now=4.0) == "dbt built 12 nodes, 3.0 nodes/s"
    # A time budget that ends the step first caps the estimate.
    budget = Progress("trained on", "samples", 10_000, started=0.0, deadline=70.0)
    assert budget.line(1_000, now=60.0).endswith("about 10.0 s left")
    # Within the first second a rate would measure start-up, not the work.
    assert Progress("dbt built", "nodes", 155, started=0.0).line(1, now=0.5) == "dbt built 1 of 155 nodes (1%)"
    assert duration(3725) == "1 h 02 min" and duration(2.25) == "2.2 s"


def test_reports_reach_the_running_steps_record_at_most_every_few_seconds(tmp_path, monkeypatch):
    monkeypatch.setenv("CLM_HOME", str(tmp_path))
    settings = settings_module.load()

    @runstatus.step("score", "")
    def score(as_of, settings):
        progress = Progress("scored", "customers", 3, every_seconds=60)
        lines = [progress.update(1), progress.update(2), progress.update(3, force=True)]
        return lines, runstatus.read(settings, as_of)["score"]

    lines, during = score(date(2026, 1, 1), settings)
    assert lines[0].startswith("scored 1 of 3 customers (33%)") and lines[1] is None
    assert during.state == "running" and during.progress.startswith("scored 3 of 3 customers (100%)")
    assert runstatus.read(settings, date(2026, 1, 1))["score"].progress is None  # the finished record
    assert Progress("x", "y", 1).update(1) is not None  # outside a step: logged only, no error


@pytest.mark.parametrize("seconds, text", [(59.9, "59.9 s"), (61, "1 min 01 s")])
def test_durations_read_as_a_person_would_say_them(seconds, text):
    assert duration(seconds) == text


def test_dbt_progress_counts_nodes_not_the_projects_hooks():
    from ml.data.dbt_runner import NODE_DONE

    assert NODE_DONE.search("23:02:49  1 of 1 OK hook: clm.on-run-start.0 ....... [OK in 3.71s]") is None
    assert NODE_DONE.search("23:02:50  12 of 155 OK created sql table model build.x .. [OK in 0.2s]").groups() == ("12", "155")
    assert NODE_DONE.search("23:02:51  13 of 155 FAIL 2 not_null_x ..... [FAIL 2 in 0.1s]").groups() == ("13", "155")
