"""Timer triggers in the local host: NCRONTAB occurrences, firing on schedule, run on start-up, past due."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import azure.functions as func
import pytest

from devhost.invoker import Invoker
from devhost.registry import build_registry
from devhost.timers import TimerScheduler, next_occurrence


def test_the_next_occurrence_reads_seconds_first() -> None:
    after = datetime(2026, 11, 27, 9, 0, 0, tzinfo=UTC)
    assert next_occurrence("30 0 2 * * *", after) == datetime(2026, 11, 28, 2, 0, 30, tzinfo=UTC)


def test_the_next_occurrence_is_strictly_after_the_given_instant() -> None:
    at = datetime(2026, 11, 27, 9, 15, 0, tzinfo=UTC)
    assert next_occurrence("0 */15 * * * *", at) == datetime(2026, 11, 27, 9, 30, 0, tzinfo=UTC)


def test_a_day_and_a_day_of_week_must_both_match_as_the_functions_host_reads_them() -> None:
    """Cron fires on the 13th OR on a Friday; the host's NCRONTAB only on a Friday the 13th."""
    after = datetime(2026, 1, 1, tzinfo=UTC)
    assert next_occurrence("0 0 0 13 * 5", after) == datetime(2026, 2, 13, tzinfo=UTC)


def test_month_and_day_names_are_read_in_full_or_abbreviated() -> None:
    after = datetime(2026, 1, 1, tzinfo=UTC)
    assert next_occurrence("0 30 9 * March monday", after) == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def test_occurrences_are_computed_in_utc_whatever_the_zone_of_the_instant() -> None:
    paris = datetime(2026, 11, 27, 10, 0, 0, tzinfo=timezone(timedelta(hours=1)))
    assert next_occurrence("0 0 12 * * *", paris) == datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)


class Recorder:
    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[func.TimerRequest] = []
        self.delay = delay

    def app(self, schedule: str, *, run_on_startup: bool = False) -> func.FunctionApp:
        app = func.FunctionApp()

        @app.timer_trigger(schedule=schedule, arg_name="timer", run_on_startup=run_on_startup)
        def tick(timer: func.TimerRequest) -> None:
            self.calls.append(timer)
            time.sleep(self.delay)

        return app


@pytest.fixture
def invoker() -> Iterator[Invoker]:
    instance = Invoker()
    instance.start()
    yield instance
    instance.stop()


def run_timers(app: func.FunctionApp, invoker: Invoker, seconds: float) -> None:
    stop = threading.Event()
    scheduler = TimerScheduler(build_registry(app, {}).timers, invoker, stop)
    scheduler.start()
    time.sleep(seconds)
    stop.set()
    scheduler.join(5)


def test_a_timer_fires_on_its_schedule(invoker: Invoker) -> None:
    recorder = Recorder()
    run_timers(recorder.app("* * * * * *"), invoker, 2.6)
    assert 2 <= len(recorder.calls) <= 3
    assert not any(call.past_due for call in recorder.calls)


def test_a_timer_does_not_fire_before_its_occurrence(invoker: Invoker) -> None:
    recorder = Recorder()
    run_timers(recorder.app("0 0 0 1 1 *"), invoker, 1.0)
    assert recorder.calls == []


def test_run_on_startup_fires_once_at_start(invoker: Invoker) -> None:
    recorder = Recorder()
    run_timers(recorder.app("0 0 0 1 1 *", run_on_startup=True), invoker, 0.5)
    assert len(recorder.calls) == 1


def test_a_run_that_outlasts_an_occurrence_is_followed_by_one_past_due_run(invoker: Invoker) -> None:
    recorder = Recorder(delay=1.3)
    run_timers(recorder.app("* * * * * *"), invoker, 3.2)
    assert len(recorder.calls) >= 2
    assert recorder.calls[1].past_due


def test_a_disabled_timer_does_not_run_on_its_schedule(invoker: Invoker) -> None:
    recorder = Recorder()
    app = recorder.app("* * * * * *", run_on_startup=True)
    stop = threading.Event()
    registry = build_registry(app, {"AzureWebJobs.tick.Disabled": "1"})
    scheduler = TimerScheduler(registry.timers, invoker, stop)
    scheduler.start()
    time.sleep(1.2)
    stop.set()
    assert recorder.calls == []
