"""The purge queue on Azurite: a delayed message stays hidden until its time; poison messages move back."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator

import pytest
from azure.core.exceptions import ResourceNotFoundError

from functions.adapters.purge_queue import POISON_QUEUE, PurgeMessage, StoragePurgeQueue, parse_purge_message
from functions.adapters.queues import PURGE_QUEUE
from functions.adapters.storage import StorageClients

pytestmark = pytest.mark.integration


@pytest.fixture
def queue(storage_clients: StorageClients) -> Iterator[StoragePurgeQueue]:
    """A purge queue of this test alone (a running app host would consume the real `purges` queue)."""
    purge_queue = StoragePurgeQueue(storage_clients, f"purgetest{uuid.uuid4().hex[:12]}")
    yield purge_queue
    for name in (purge_queue.queue_name, purge_queue.poison_name):
        with contextlib.suppress(ResourceNotFoundError):
            storage_clients.queue_service.delete_queue(name)


def visible(storage: StorageClients, queue: str) -> list[PurgeMessage | None]:
    messages = storage.queue(queue).receive_messages(max_messages=32, visibility_timeout=1)
    return [parse_purge_message(m.content) for m in messages]


def test_the_default_queue_is_the_one_the_purge_function_listens_on(storage_clients: StorageClients) -> None:
    default = StoragePurgeQueue(storage_clients)
    assert (default.queue_name, default.poison_name) == (PURGE_QUEUE, POISON_QUEUE)


def test_a_purge_is_queued_as_the_purge_function_reads_it(
    storage_clients: StorageClients, queue: StoragePurgeQueue
) -> None:
    queue.enqueue("t", "p")
    assert visible(storage_clients, queue.queue_name) == [PurgeMessage("t", "p")]


def test_poison_messages_move_back_to_the_queue_and_leave_the_poison_queue(
    storage_clients: StorageClients, queue: StoragePurgeQueue
) -> None:
    poison = storage_clients.queue(queue.poison_name)
    kept, done = str(uuid.uuid4()), str(uuid.uuid4())
    for purge_id in (kept, done):
        poison.send_message(json.dumps({"tenantId": "t", "purgeId": purge_id}))
    moved = queue.requeue_poison(lambda m: m.purge_id == kept)
    assert moved == [PurgeMessage("t", kept)]
    assert visible(storage_clients, queue.queue_name) == [PurgeMessage("t", kept)]
    assert poison.get_queue_properties().approximate_message_count == 0


def test_an_unreadable_poison_message_is_left_where_it_is(
    storage_clients: StorageClients, queue: StoragePurgeQueue
) -> None:
    poison = storage_clients.queue(queue.poison_name)
    poison.send_message("not a purge message")
    assert queue.requeue_poison(bool) == []
    assert poison.get_queue_properties().approximate_message_count == 1
