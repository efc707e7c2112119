"""Queue triggers with the Functions host's semantics, against Azure Storage or Azurite.

Per queue function one listener thread receives up to `batchSize` messages (hidden while they run) and
fetches more when no more than `newBatchThreshold` are still running. After a run:
success deletes the message; a failure makes it visible again after `visibilityTimeout`, unless its
dequeue count has reached `maxDequeueCount`, in which case its body moves, byte for byte, to
`<queue>-poison`. An idle queue is polled with a back-off from 100 ms up to the maximum polling interval.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueClient
from azure.storage.queue import QueueMessage as StoredMessage

from devhost.config import PROCESSING_VISIBILITY, MessageEncoding, QueueOptions, StartupError
from devhost.invoker import InvocationResult, Invoker
from devhost.registry import QueueFunction

logger = logging.getLogger("devhost")

Disposition = Literal["delete", "retry", "poison"]
_MIN_POLLING_INTERVAL = 0.1
_CLIENT_OPTIONS: dict[str, Any] = {"retry_total": 2, "retry_backoff_factor": 0.2, "connection_timeout": 5}


def disposition(*, succeeded: bool, dequeue_count: int, max_dequeue_count: int) -> Disposition:
    """What happens to a message after a run, as the Functions host decides it."""
    if succeeded:
        return "delete"
    return "poison" if dequeue_count >= max_dequeue_count else "retry"


def decode_body(content: str, encoding: MessageEncoding) -> bytes:
    """The body the function sees; a message that is not valid base64 fails like a failed run."""
    if encoding == "none":
        return content.encode("utf-8")
    try:
        return base64.b64decode(content, validate=True)
    except binascii.Error as error:
        raise ValueError(
            f"the message is not valid base64 (host.json messageEncoding is base64): {error}"
        ) from None


def poison_queue_name(queue_name: str) -> str:
    return f"{queue_name}-poison"


def queue_client(connection: str, settings: Mapping[str, str], queue_name: str) -> QueueClient:
    """A raw client (no encode/decode policy): the host reads and moves messages exactly as stored."""
    connection_string = settings.get(connection, "").strip()
    if connection_string:
        return QueueClient.from_connection_string(connection_string, queue_name, **_CLIENT_OPTIONS)
    service_uri = (
        settings.get(f"{connection}__queueServiceUri", "") or settings.get(f"{connection}__serviceUri", "")
    ).strip()
    if service_uri:
        from azure.identity import DefaultAzureCredential  # noqa: PLC0415  (only identity connections)

        return QueueClient(service_uri, queue_name, credential=DefaultAzureCredential(), **_CLIENT_OPTIONS)
    raise StartupError(
        f"the queue trigger's connection setting {connection} is not set "
        f"(a connection string, or {connection}__queueServiceUri)"
    )


@dataclass(frozen=True, slots=True)
class QueueStats:
    function: str
    queue: str
    approximate_message_count: int | None  # None: storage did not answer
    poison_approximate_message_count: int | None
    in_flight: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "queue": self.queue,
            "approximateMessageCount": self.approximate_message_count,
            "poisonQueue": poison_queue_name(self.queue),
            "poisonApproximateMessageCount": self.poison_approximate_message_count,
            "inFlight": self.in_flight,
        }


class QueueListener:
    def __init__(
        self,
        function: QueueFunction,
        *,
        client: QueueClient,
        poison_client: QueueClient,
        options: QueueOptions,
        invoker: Invoker,
        stop: threading.Event,
    ) -> None:
        self.function = function
        self._client = client
        self._poison = poison_client
        self._options = options
        self._invoker = invoker
        self._stop = stop
        self._pool = ThreadPoolExecutor(
            max_workers=options.batch_size + options.new_batch_threshold,
            thread_name_prefix=f"queue-{function.name}",
        )
        self._lock = threading.Condition()
        self._in_flight = 0
        self._thread = threading.Thread(target=self._run, name=f"queue-{function.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        # Messages not started yet are released (see _process), so waiting only waits for running ones.
        self._pool.shutdown(wait=True)

    def stats(self) -> QueueStats:
        with self._lock:
            in_flight = self._in_flight
        return QueueStats(
            self.function.name,
            self.function.queue_name,
            _approximate_count(self._client),
            _approximate_count(self._poison),
            in_flight,
        )

    def invoke_by_hand(self, body: str) -> InvocationResult:
        """What `POST /admin/functions/{name}` does for a queue function: the input is the message body."""
        message = QueueMessage(body=body.encode("utf-8"), dequeue_count=1)
        return self._invoker.invoke(
            self.function, message, "This function was programmatically called via the host APIs."
        )

    def _run(self) -> None:
        interval = _MIN_POLLING_INTERVAL
        created = False
        while not self._stop.is_set():
            try:
                if not created:
                    _create_queues(self._client, self._poison)
                    created = True
                received = self._receive()
            except AzureError as error:
                logger.warning(
                    "Queue '%s' (Functions.%s) is unreachable: %s", self.function.queue_name,
                    self.function.name, error.message,
                )  # fmt: skip
                received = 0
            if received:
                interval = _MIN_POLLING_INTERVAL
                continue
            self._stop.wait(interval)
            interval = min(interval * 2, max(self._options.max_polling_interval.total_seconds(), 0.01))

    def _receive(self) -> int:
        """Receive a batch when there is room for one; returns how many messages were started."""
        with self._lock:
            if not self._lock.wait_for(
                lambda: self._in_flight <= self._options.new_batch_threshold or self._stop.is_set(),
                timeout=1.0,
            ):
                return -1  # still busy: no back-off, look again
            if self._stop.is_set():
                return 0
        messages = list(
            self._client.receive_messages(
                messages_per_page=self._options.batch_size,
                max_messages=self._options.batch_size,
                visibility_timeout=int(PROCESSING_VISIBILITY.total_seconds()),
            )
        )
        for message in messages[: self._options.batch_size]:
            with self._lock:
                self._in_flight += 1
            self._pool.submit(self._process, message)
        return len(messages)

    def _process(self, message: StoredMessage) -> None:
        try:
            if self._stop.is_set():
                # Stopping: make it visible again now rather than after the processing visibility timeout.
                self._client.update_message(message.id, message.pop_receipt, visibility_timeout=0)
                return
            self._handle(message)
        except AzureError as error:
            # The message stays hidden and reappears after the processing visibility timeout.
            logger.warning(
                "Queue '%s': could not settle message %s: %s", self._client.queue_name, message.id, error
            )
        finally:
            with self._lock:
                self._in_flight -= 1
                self._lock.notify_all()

    def _handle(self, message: StoredMessage) -> None:
        options = self._options
        dequeue_count = int(message.dequeue_count or 1)
        if dequeue_count > options.max_dequeue_count:
            # Seen more often than allowed without a recorded failure (e.g. the host died mid-run).
            self._move_to_poison(message)
            return
        result = self._invoke(message, dequeue_count)
        action = disposition(
            succeeded=result.succeeded,
            dequeue_count=dequeue_count,
            max_dequeue_count=options.max_dequeue_count,
        )
        if action == "delete":
            self._client.delete_message(message.id, message.pop_receipt)
        elif action == "retry":
            self._client.update_message(
                message.id, message.pop_receipt, visibility_timeout=_whole_seconds(options.visibility_timeout)
            )
        else:
            self._move_to_poison(message)

    def _invoke(self, message: StoredMessage, dequeue_count: int) -> InvocationResult:
        reason = f"New queue message detected on '{self.function.queue_name}'."
        try:
            body = decode_body(str(message.content), self._options.message_encoding)
        except ValueError as error:
            # Run a stand-in that raises, so the failure is logged and retried like any other.
            return self._invoker.invoke(_failing(self.function, error), None, reason)
        trigger_value = QueueMessage(
            id=message.id,
            body=body,
            dequeue_count=dequeue_count,
            expiration_time=message.expires_on,
            insertion_time=message.inserted_on,
            time_next_visible=message.next_visible_on,
            pop_receipt=message.pop_receipt,
        )
        return self._invoker.invoke(self.function, trigger_value, reason)

    def _move_to_poison(self, message: StoredMessage) -> None:
        self._poison.send_message(message.content)
        self._client.delete_message(message.id, message.pop_receipt)
        logger.warning(
            "Message %s has reached MaxDequeueCount of %d. Moving message to queue '%s'.",
            message.id, self._options.max_dequeue_count, self._poison.queue_name,
        )  # fmt: skip


def _failing(function: QueueFunction, error: ValueError) -> QueueFunction:
    def raise_decoding_error(**_: Any) -> None:
        raise error

    return QueueFunction(
        name=function.name,
        trigger_type=function.trigger_type,
        binding_name=function.binding_name,
        user_function=raise_decoding_error,
        bindings=function.bindings,
        disabled=function.disabled,
        wants_context=False,
        queue_name=function.queue_name,
        connection=function.connection,
    )


def _create_queues(*clients: QueueClient) -> None:
    for client in clients:
        with contextlib.suppress(ResourceExistsError):
            client.create_queue()


def _approximate_count(client: QueueClient) -> int | None:
    try:
        count: int | None = client.get_queue_properties().approximate_message_count
    except AzureError:
        return None
    return count


def _whole_seconds(delta: timedelta) -> int:
    return max(0, round(delta.total_seconds()))
