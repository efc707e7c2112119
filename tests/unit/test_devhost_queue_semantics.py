"""Queue semantics of the local host without storage: host.json options, retry-or-poison, message bodies."""

from __future__ import annotations

import base64
from datetime import timedelta

import azure.functions as func
import pytest

from devhost.azurite import ROOT
from devhost.config import LOCAL_MAX_POLLING_INTERVAL, HostConfig, QueueOptions, StartupError, parse_timespan
from devhost.host import LocalHost
from devhost.queues import decode_body, disposition, poison_queue_name


def test_a_successful_run_deletes_the_message_whatever_its_dequeue_count() -> None:
    assert disposition(succeeded=True, dequeue_count=5, max_dequeue_count=5) == "delete"


def test_a_failed_run_below_the_maximum_is_retried() -> None:
    assert disposition(succeeded=False, dequeue_count=4, max_dequeue_count=5) == "retry"


def test_a_failed_run_at_the_maximum_dequeue_count_goes_to_poison() -> None:
    assert disposition(succeeded=False, dequeue_count=5, max_dequeue_count=5) == "poison"


def test_the_poison_queue_is_the_queue_name_with_a_poison_suffix() -> None:
    assert poison_queue_name("purges") == "purges-poison"


def test_base64_bodies_are_decoded_to_the_bytes_that_were_sent() -> None:
    body = '{"tenantId": "t-1", "ünïcode": true}'.encode()
    assert decode_body(base64.b64encode(body).decode(), "base64") == body


def test_a_body_that_is_not_base64_is_an_error_when_the_encoding_is_base64() -> None:
    with pytest.raises(ValueError, match="not valid base64"):
        decode_body('{"plain": "json"}', "base64")


def test_with_encoding_none_the_body_is_taken_as_is() -> None:
    assert decode_body('{"plain": "json"}', "none") == b'{"plain": "json"}'


def test_host_json_queue_options_are_read() -> None:
    config = HostConfig.from_dict(
        {
            "extensions": {
                "http": {"routePrefix": "v1"},
                "queues": {
                    "batchSize": 4,
                    "newBatchThreshold": 1,
                    "maxDequeueCount": 3,
                    "visibilityTimeout": "00:00:30",
                    "maxPollingInterval": "00:00:05",
                    "messageEncoding": "none",
                },
            }
        }
    )
    assert config.route_prefix == "v1"
    assert config.queues == QueueOptions(
        batch_size=4,
        new_batch_threshold=1,
        max_dequeue_count=3,
        visibility_timeout=timedelta(seconds=30),
        max_polling_interval=timedelta(seconds=5),
        message_encoding="none",
    )


def test_without_host_json_settings_the_functions_host_defaults_apply() -> None:
    options = HostConfig.from_dict({}).queues
    assert (options.batch_size, options.new_batch_threshold, options.max_dequeue_count) == (16, 8, 5)
    assert options.visibility_timeout == timedelta(0)
    assert options.message_encoding == "base64"
    assert options.max_polling_interval == LOCAL_MAX_POLLING_INTERVAL


def test_the_new_batch_threshold_defaults_to_half_the_batch_size() -> None:
    assert HostConfig.from_dict({"extensions": {"queues": {"batchSize": 10}}}).queues.new_batch_threshold == 5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("00:00:30", timedelta(seconds=30)),
        ("01:02:03", timedelta(hours=1, minutes=2, seconds=3)),
        ("1.00:00:00", timedelta(days=1)),
        ("00:00:00.5", timedelta(milliseconds=500)),
    ],
)
def test_timespans_are_read_as_dotnet_writes_them(text: str, expected: timedelta) -> None:
    assert parse_timespan(text, "visibilityTimeout") == expected


@pytest.mark.parametrize(
    ("queues", "named"),
    [
        ({"visibilityTimeout": "30s"}, "visibilityTimeout"),
        ({"batchSize": 64}, "batchSize"),
        ({"batchSize": 0}, "batchSize"),
        ({"maxDequeueCount": "5"}, "maxDequeueCount"),
        ({"messageEncoding": "utf8"}, "messageEncoding"),
    ],
)
def test_bad_host_json_queue_options_stop_start_up_naming_the_option(
    queues: dict[str, object], named: str
) -> None:
    with pytest.raises(StartupError, match=named):
        HostConfig.from_dict({"extensions": {"queues": queues}})


def test_tests_can_shorten_the_retry_delay_and_polling_interval_through_the_environment() -> None:
    options = QueueOptions(visibility_timeout=timedelta(seconds=30)).with_overrides(
        {"DEVHOST_QUEUE_VISIBILITY_TIMEOUT_SECONDS": "1", "DEVHOST_QUEUE_POLL_INTERVAL_SECONDS": "0.2"}
    )
    assert options.visibility_timeout == timedelta(seconds=1)
    assert options.max_polling_interval == timedelta(seconds=0.2)


def test_a_bad_override_names_the_variable() -> None:
    with pytest.raises(StartupError, match="DEVHOST_QUEUE_VISIBILITY_TIMEOUT_SECONDS"):
        QueueOptions().with_overrides({"DEVHOST_QUEUE_VISIBILITY_TIMEOUT_SECONDS": "soon"})


def test_the_repository_host_json_is_what_the_local_host_reads() -> None:
    options = HostConfig.load(ROOT / "host.json").queues
    assert (options.max_dequeue_count, options.message_encoding) == (5, "base64")
    assert options.visibility_timeout == timedelta(seconds=30)


def test_a_queue_trigger_whose_connection_setting_is_missing_stops_start_up_naming_it() -> None:
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="work", connection="WorkStorage")
    def work(msg: func.QueueMessage) -> None:
        return None

    with pytest.raises(StartupError, match="WorkStorage"):
        LocalHost(app, {}, port=0)
