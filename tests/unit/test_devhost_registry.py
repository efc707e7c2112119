"""Indexing an app for the local host: triggers, `%NAME%` settings, NCRONTAB checks, unsupported bindings."""

from __future__ import annotations

import azure.functions as func
import pytest

from devhost.config import StartupError
from devhost.registry import (
    HttpFunction,
    QueueFunction,
    TimerFunction,
    build_registry,
    resolve_expressions,
    validate_ncrontab,
)


def timer_app(schedule: str, name: str = "nightly") -> func.FunctionApp:
    app = func.FunctionApp()

    @app.function_name(name)
    @app.timer_trigger(schedule=schedule, arg_name="timer", run_on_startup=False)
    def nightly(timer: func.TimerRequest) -> None:
        return None

    return app


def test_http_functions_keep_their_route_and_methods() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="tenants/{tenantId}/consent", methods=["GET", "PUT"])
    def consent(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("ok")

    (entry,) = build_registry(app, {}).functions
    assert isinstance(entry, HttpFunction)
    assert (entry.route, entry.methods, entry.trigger_type) == (
        "tenants/{tenantId}/consent",
        ("GET", "PUT"),
        "httpTrigger",
    )


def test_an_http_function_without_a_route_is_routed_by_its_name() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.function_name("ping")
    @app.route(methods=["GET"])
    def handler(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("pong")

    (entry,) = build_registry(app, {}).http
    assert entry.route == "ping"


def test_a_timer_schedule_written_as_a_setting_is_resolved_from_the_settings() -> None:
    registry = build_registry(timer_app("%NIGHTLY_SCHEDULE%"), {"NIGHTLY_SCHEDULE": "0 30 3 * * *"})
    (timer,) = registry.timers
    assert (timer.schedule, timer.schedule_source) == ("0 30 3 * * *", "%NIGHTLY_SCHEDULE%")


def test_a_missing_schedule_setting_stops_start_up_naming_function_and_setting() -> None:
    with pytest.raises(StartupError, match=r"timer function 'nightly'.*NIGHTLY_SCHEDULE.*not set"):
        build_registry(timer_app("%NIGHTLY_SCHEDULE%"), {})


def test_a_blank_schedule_setting_counts_as_missing() -> None:
    with pytest.raises(StartupError, match="NIGHTLY_SCHEDULE"):
        build_registry(timer_app("%NIGHTLY_SCHEDULE%"), {"NIGHTLY_SCHEDULE": "  "})


@pytest.mark.parametrize(
    "schedule",
    [
        "0 0 2 * *", "0 0 25 * * *", "every night", "0 0 2 * * * *", "00:05:00",
        "0 0 0 L * *", "0 0 0 * * 7", "0 0 2 30 2 *",  # cron accepts them; the Functions host never runs them
    ],
)  # fmt: skip
def test_a_malformed_ncrontab_stops_start_up_quoting_it(schedule: str) -> None:
    with pytest.raises(StartupError, match="NCRONTAB") as raised:
        build_registry(timer_app("%S%"), {"S": schedule})
    assert repr(schedule) in str(raised.value)
    assert "'nightly'" in str(raised.value)


def test_a_six_field_expression_with_seconds_first_is_valid() -> None:
    assert validate_ncrontab("*/10 * * * * Mon-Fri", "t") == "*/10 * * * * Mon-Fri"


def test_several_expressions_in_one_value_are_all_resolved() -> None:
    assert resolve_expressions("%A%-%B%", {"A": "in", "B": "out"}, "q") == "in-out"


def test_queue_triggers_keep_queue_name_and_connection_with_the_default_connection() -> None:
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE%", connection="")
    def work(msg: func.QueueMessage) -> None:
        return None

    (entry,) = build_registry(app, {"WORK_QUEUE": "Purges"}).queues
    assert isinstance(entry, QueueFunction)
    assert (entry.queue_name, entry.connection) == ("purges", "AzureWebJobsStorage")


def test_a_function_is_disabled_by_the_azure_webjobs_disabled_setting() -> None:
    registry = build_registry(timer_app("0 0 2 * * *"), {"AzureWebJobs.nightly.Disabled": "true"})
    (timer,) = registry.timers
    assert isinstance(timer, TimerFunction)
    assert timer.disabled


def test_functions_are_found_by_name_case_insensitively() -> None:
    registry = build_registry(timer_app("0 0 2 * * *", name="Nightly"), {})
    found = registry.get("NIGHTLY")
    assert found is not None
    assert found.name == "Nightly"


def test_an_output_binding_the_local_host_cannot_honour_stops_start_up() -> None:
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="work", connection="AzureWebJobsStorage")
    @app.queue_output(arg_name="out", queue_name="next", connection="AzureWebJobsStorage")
    def forward(msg: func.QueueMessage, out: func.Out[str]) -> None:
        out.set(msg.get_body().decode())

    with pytest.raises(StartupError, match=r"'forward'.*queue"):
        build_registry(app, {})


def test_an_app_can_be_indexed_only_once_so_a_second_registry_is_refused_clearly() -> None:
    app = timer_app("0 0 2 * * *")
    build_registry(app, {})
    with pytest.raises(StartupError, match="cannot be indexed"):
        build_registry(app, {})


def test_a_function_that_asks_for_a_context_is_noticed() -> None:
    app = func.FunctionApp()

    @app.timer_trigger(schedule="0 0 2 * * *", arg_name="timer")
    def with_context(timer: func.TimerRequest, context: func.Context) -> None:
        return None

    (entry,) = build_registry(app, {}).functions
    assert entry.wants_context
