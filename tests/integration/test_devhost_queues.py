"""Queue triggers of the local host against a real Azurite: base64 bodies, retries, visibility, poison."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import azure.functions as func
import pytest
from azure.storage.queue import QueueClient, TextBase64DecodePolicy

from devhost.config import HostConfig, QueueOptions
from devhost.host import LocalHost
from functions.adapters.storage import StorageClients

pytestmark = pytest.mark.integration


class Worker:
    """A queue function whose behaviour each test sets: it records every delivery."""

    def __init__(self, behaviour: Callable[[func.QueueMessage], None] = lambda _message: None) -> None:
        self.behaviour = behaviour
        self.deliveries: list[tuple[float, func.QueueMessage]] = []
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()

    def app(self) -> func.FunctionApp:
        app = func.FunctionApp()

        @app.function_name("work")
        @app.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE%", connection="AzureWebJobsStorage")
        def work(msg: func.QueueMessage) -> None:
            with self._lock:
                self.deliveries.append((time.monotonic(), msg))
                self.running += 1
                self.most_running = max(self.most_running, self.running)
            try:
                self.behaviour(msg)
            finally:
                with self._lock:
                    self.running -= 1

        return app


@pytest.fixture
def queue_name() -> str:
    return f"work-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def start_host(storage_connection_string: str, queue_name: str) -> Iterator[Callable[..., LocalHost]]:
    hosts: list[LocalHost] = []

    def start(worker: Worker, **options: Any) -> LocalHost:
        settings = {"AzureWebJobsStorage": storage_connection_string, "WORK_QUEUE": queue_name}
        config = HostConfig(queues=QueueOptions(max_polling_interval=timedelta(milliseconds=200), **options))
        host = LocalHost(worker.app(), settings, config, port=0)
        hosts.append(host)
        host.start()
        return host

    yield start
    for host in hosts:
        host.stop()


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        time.sleep(0.05)


def raw_queue(connection_string: str, name: str) -> QueueClient:
    return QueueClient.from_connection_string(connection_string, name)


def test_a_message_sent_by_the_app_reaches_the_function_decoded_and_is_deleted(
    start_host: Callable[..., LocalHost], storage_clients: StorageClients, queue_name: str
) -> None:
    worker = Worker()
    host = start_host(worker)
    storage_clients.queue(queue_name).send_message('{"tenantId": "t-1", "name": "Zoë"}')
    wait_until(lambda: len(worker.deliveries) == 1)
    _, message = worker.deliveries[0]
    assert message.get_body() == '{"tenantId": "t-1", "name": "Zoë"}'.encode()
    assert message.dequeue_count == 1
    wait_until(lambda: host.queue_status()["idle"])
    assert storage_clients.queue(queue_name).peek_messages() == []


def test_a_message_that_keeps_failing_moves_to_poison_after_max_dequeue_count_with_its_body_intact(
    start_host: Callable[..., LocalHost],
    storage_clients: StorageClients,
    storage_connection_string: str,
    queue_name: str,
) -> None:
    def fail(message: func.QueueMessage) -> None:
        raise RuntimeError("always fails")

    worker = Worker(fail)
    host = start_host(worker, max_dequeue_count=3)
    body = '{"purgeId": "p-1", "bytes": "ünïcödé"}'
    storage_clients.queue(queue_name).send_message(body)
    poison = QueueClient.from_connection_string(
        storage_connection_string, f"{queue_name}-poison", message_decode_policy=TextBase64DecodePolicy()
    )
    wait_until(lambda: host.queue_status()["queues"][0]["poisonApproximateMessageCount"] == 1)
    assert [m.dequeue_count for _, m in worker.deliveries] == [1, 2, 3]
    (poisoned,) = poison.peek_messages()
    assert poisoned.content == body  # readable by the Azure SDK, as written
    wait_until(lambda: host.queue_status()["idle"])
    assert storage_clients.queue(queue_name).peek_messages() == []


def test_a_failed_message_stays_hidden_for_the_visibility_timeout_then_is_retried(
    start_host: Callable[..., LocalHost], storage_clients: StorageClients, queue_name: str
) -> None:
    def fail_first(message: func.QueueMessage) -> None:
        if message.dequeue_count == 1:
            raise RuntimeError("first attempt fails")

    worker = Worker(fail_first)
    host = start_host(worker, visibility_timeout=timedelta(seconds=2))
    storage_clients.queue(queue_name).send_message("retry me")
    wait_until(lambda: len(worker.deliveries) == 2)
    (first, _), (second, message) = worker.deliveries
    assert second - first >= 1.8
    assert message.get_body() == b"retry me"
    wait_until(lambda: host.queue_status()["idle"])


def test_a_message_that_is_not_base64_fails_and_ends_in_poison_unchanged(
    start_host: Callable[..., LocalHost], storage_connection_string: str, queue_name: str
) -> None:
    worker = Worker()
    host = start_host(worker, max_dequeue_count=2)
    raw = raw_queue(storage_connection_string, queue_name)
    wait_until(lambda: host.queue_status()["queues"][0]["approximateMessageCount"] == 0)
    raw.send_message("{not base64}")
    wait_until(lambda: host.queue_status()["queues"][0]["poisonApproximateMessageCount"] == 1)
    assert worker.deliveries == []  # the function never saw it
    (poisoned,) = raw_queue(storage_connection_string, f"{queue_name}-poison").peek_messages()
    assert poisoned.content == "{not base64}"


def test_messages_are_processed_in_parallel_up_to_the_batch_size(
    start_host: Callable[..., LocalHost], storage_clients: StorageClients, queue_name: str
) -> None:
    worker = Worker(lambda _message: time.sleep(0.4))
    queue = storage_clients.queue(queue_name)
    for index in range(6):
        queue.send_message(f"m{index}")
    host = start_host(worker, batch_size=3, new_batch_threshold=0)
    wait_until(lambda: len(worker.deliveries) == 6)
    wait_until(lambda: host.queue_status()["idle"])
    assert worker.most_running == 3


def test_the_queue_status_shows_a_running_message_until_it_is_done(
    start_host: Callable[..., LocalHost], storage_clients: StorageClients, queue_name: str
) -> None:
    release = threading.Event()
    worker = Worker(lambda _message: release.wait(10) and None)
    host = start_host(worker)
    storage_clients.queue(queue_name).send_message("slow")
    wait_until(lambda: len(worker.deliveries) == 1)
    busy = host.queue_status()
    assert not busy["idle"]
    assert busy["queues"][0]["inFlight"] == 1
    release.set()
    wait_until(lambda: host.queue_status()["idle"])


def test_firing_a_queue_function_by_hand_passes_the_input_as_the_body(
    start_host: Callable[..., LocalHost], queue_name: str
) -> None:
    worker = Worker()
    host = start_host(worker)
    entry = host.registry.get("work")
    assert entry is not None
    result = host.fire(entry, '{"by": "hand"}')
    assert result.succeeded
    assert worker.deliveries[-1][1].get_body() == b'{"by": "hand"}'
