"""Each step's outcome is recorded as data that `clm run` reads, not found in a log."""

from datetime import date

import pytest

from ml import runstatus
from ml import settings as settings_module

AS_OF = date(2026, 1, 1)


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("CLM_HOME", str(tmp_path))
    return settings_module.load()


def test_a_failed_step_records_its_type_message_and_what_to_do_then_fails(settings):
    @runstatus.step("check_things", "Fix the export.")
    def check(as_of, settings, rows):
        raise ValueError(f"orders: {rows} rows broke rule negative_amount")

    with pytest.raises(ValueError, match="negative_amount"):
        check(AS_OF, settings, 3)

    status = runstatus.read(settings, AS_OF)["check_things"]
    assert (status.state, status.error_type, status.what_to_do) == ("failed", "ValueError", "Fix the export.")
    assert status.message == "orders: 3 rows broke rule negative_amount" and status.where.startswith("test_runstatus.py:")
    assert status.describe().splitlines() == ["task check_things failed (ValueError):",
                                              "  orders: 3 rows broke rule negative_amount",
                                              "what to do: Fix the export."]


def test_steps_record_success_in_order_and_a_rerun_starts_clean(settings):
    first = runstatus.step("first", "")(lambda as_of, settings: 1)
    second = runstatus.step("second", "")(lambda as_of, settings: 2)
    assert (first(AS_OF, settings), second(AS_OF, settings)) == (1, 2)
    statuses = runstatus.read(settings, AS_OF)
    assert list(statuses) == ["first", "second"] and {s.state for s in statuses.values()} == {"success"}
    assert runstatus.read(settings, date(2026, 1, 2)) == {}
    runstatus.clear(settings, AS_OF)
    assert runstatus.read(settings, AS_OF) == {}


def test_a_step_is_recorded_as_running_while_it_runs(settings):
    @runstatus.step("long_step", "")
    def long_step(as_of, settings):
        return runstatus.read(settings, as_of)["long_step"]

    during = long_step(AS_OF, settings)
    assert during.state == "running" and during.finished_at is None and during.seconds >= 0
    after = runstatus.read(settings, AS_OF)["long_step"]
    assert after.state == "success" and after.started_at == during.started_at and after.seconds >= 0
