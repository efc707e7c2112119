"""Requests about a whole tenant are coalesced on Azurite: at most one pending per kind, none ever lost."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from functions.adapters.queues import INGEST_QUEUE, MEMBERSHIP_QUEUE, REFRESH_QUEUE, StorageWorkQueues
from functions.adapters.storage import StorageClients

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def queues(storage_clients: StorageClients) -> StorageWorkQueues:
    return StorageWorkQueues(storage_clients)


def messages_for(storage_clients: StorageClients, queue: str, tenant_id: str) -> list[dict[str, str]]:
    peeked = storage_clients.queue(queue).peek_messages(max_messages=32)
    bodies = [json.loads(m.content) for m in peeked]
    return [b for b in bodies if b.get("tenantId") == tenant_id]


def test_asking_twice_for_a_tenants_scheduling_sends_one_message(
    queues: StorageWorkQueues, storage_clients: StorageClients, tenant_id: str
) -> None:
    assert queues.request_ingestion(tenant_id, T0)
    assert not queues.request_ingestion(tenant_id, T0 + timedelta(seconds=1))
    assert messages_for(storage_clients, INGEST_QUEUE, tenant_id) == [
        {"type": "tenant.schedule", "tenantId": tenant_id}
    ]


def test_once_a_worker_has_taken_the_request_the_next_one_is_sent(
    queues: StorageWorkQueues, storage_clients: StorageClients, tenant_id: str
) -> None:
    queues.request_membership(tenant_id, T0)
    queues.taken("membership", tenant_id)
    assert queues.request_membership(tenant_id, T0)
    assert len(messages_for(storage_clients, MEMBERSHIP_QUEUE, tenant_id)) == 2


def test_a_request_pending_longer_than_a_lost_message_would_take_is_sent_again(
    queues: StorageWorkQueues, tenant_id: str
) -> None:
    queues.request_ingestion(tenant_id, T0)
    assert not queues.request_ingestion(tenant_id, T0 + timedelta(minutes=14))
    assert queues.request_ingestion(tenant_id, T0 + timedelta(minutes=16))


def test_the_two_kinds_of_request_do_not_coalesce_with_each_other_or_other_tenants(
    queues: StorageWorkQueues, tenant_id: str
) -> None:
    assert queues.request_ingestion(tenant_id, T0)
    assert queues.request_membership(tenant_id, T0)
    assert queues.request_ingestion(str(uuid.uuid4()), T0)


def test_thirty_concurrent_requests_send_exactly_one_message(
    queues: StorageWorkQueues, storage_clients: StorageClients, tenant_id: str
) -> None:
    with ThreadPoolExecutor(max_workers=30) as pool:
        sent = list(pool.map(lambda _: queues.request_ingestion(tenant_id, T0), range(30)))
    assert sent.count(True) == 1
    assert len(messages_for(storage_clients, INGEST_QUEUE, tenant_id)) == 1


def test_taking_a_request_that_is_not_pending_is_harmless(queues: StorageWorkQueues, tenant_id: str) -> None:
    queues.taken("schedule", tenant_id)
    assert not queues.pending("schedule", tenant_id)


def test_a_users_refresh_is_sent_once_and_shows_only_after_its_coalescing_delay(
    queues: StorageWorkQueues, storage_clients: StorageClients, tenant_id: str
) -> None:
    user_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    assert queues.request_refresh(tenant_id, user_id, now, delay_seconds=2)
    assert not queues.request_refresh(tenant_id, user_id, now, delay_seconds=2), "coalesced into the first"
    assert queues.request_refresh(tenant_id, str(uuid.uuid4()), now, delay_seconds=2), (
        "another user's is its own"
    )
    assert messages_for(storage_clients, REFRESH_QUEUE, tenant_id) == [], (
        "invisible while notifications gather"
    )
    deadline = time.monotonic() + 15
    while len(messages_for(storage_clients, REFRESH_QUEUE, tenant_id)) < 2:
        assert time.monotonic() < deadline, "the delayed messages never became visible"
        time.sleep(0.2)
    mine = [m for m in messages_for(storage_clients, REFRESH_QUEUE, tenant_id) if m["userId"] == user_id]
    assert mine == [{"type": "user.refresh", "tenantId": tenant_id, "userId": user_id}]


def test_once_a_refresh_is_taken_a_new_notification_sends_another(
    queues: StorageWorkQueues, storage_clients: StorageClients, tenant_id: str
) -> None:
    user_id = str(uuid.uuid4())
    queues.request_refresh(tenant_id, user_id, T0, delay_seconds=0)
    queues.refresh_taken(tenant_id, user_id)
    assert queues.request_refresh(tenant_id, user_id, T0, delay_seconds=0)
    assert len(messages_for(storage_clients, REFRESH_QUEUE, tenant_id)) == 2
