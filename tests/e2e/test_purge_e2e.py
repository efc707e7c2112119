"""The purge through the local host: a withdrawal over the REST API is purged by the queue function and
verified within seconds, the purge API shows the proof, and the queue faults (a message delivered twice at
once, a message in the poison queue) end verified too. The sweep after the fence is proven with a moved clock
in tests/integration/test_purge_worker.py (it is due 12 minutes after the start)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.adapters.purge_queue import POISON_QUEUE
from functions.adapters.purge_store import TablePurgeStore
from functions.adapters.queues import PURGE_QUEUE
from functions.adapters.storage import StorageClients
from functions.domain.events import Provenance
from functions.domain.purge import PurgeRecord, new_purge
from functions.domain.scope import Scope
from tests.support.apphost import AppHost
from tests.support.consent_client import ConsentClient, Identity
from tests.support.purge_api import verified
from tests.support.purge_data import ZERO, Seeder, tenant_traces

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client(app_host_factory: Any, identity: Identity) -> ConsentClient:
    host: AppHost = app_host_factory(**identity.host_settings())
    return ConsentClient(host, identity)


@pytest.fixture
def seeder(storage_clients: StorageClients) -> Seeder:
    return Seeder(storage_clients)


def unqueued_purge(storage: StorageClients, tenant_id: str) -> PurgeRecord:
    """A purge recorded in the ledger whose message the test delivers itself."""
    now = datetime.now(UTC)
    provenance = Provenance("admin", f"evt-{uuid.uuid4()}", now, "api", now)
    record, _ = TablePurgeStore(storage).create(
        new_purge(Scope("tenant", tenant_id), "consent-revoked", provenance)
    )
    return record


def message(record: PurgeRecord) -> str:
    return json.dumps({"tenantId": record.tenant_id, "purgeId": record.id})


def test_a_withdrawal_is_purged_verified_and_proven_by_the_purge_api(
    client: ConsentClient, seeder: Seeder, storage_clients: StorageClients, tenant_id: str
) -> None:
    other = str(uuid.uuid4())
    for user in (str(uuid.uuid4()), str(uuid.uuid4())):
        seeder.user(tenant_id, user, 15)
    seeder.user(other, str(uuid.uuid4()), 5)
    other_before = tenant_traces(storage_clients, other)
    client.put(f"/api/tenants/{tenant_id}/consent", tenant_id)
    started = time.monotonic()
    purge_id = client.delete(f"/api/tenants/{tenant_id}/consent", tenant_id).json()["purgeId"]
    view = verified(client, tenant_id, purge_id)
    elapsed = time.monotonic() - started
    assert view["verification"] == ZERO
    assert view["counts"] == {
        "subscriptions": 0,
        "accounts": 0,
        "slices": 30,
        "contacts": 30,
        "cursors": 2,
        "introductions": 2,
        "consents": 0,
        "shards-out-of-reach": 0,
        "backups": 2,
    }
    assert [s["name"] for s in view["steps"]] == ["live-deleted", "backups-deleted", "verified"]
    assert None not in (view["sweepAt"], view["verifiedAt"], view["liveDeletedAt"], view["backupsDeletedAt"])
    assert (view["deadlineFlags"], view["attempts"], view["lastError"]) == ([], 1, None)
    assert tenant_traces(storage_clients, tenant_id) == ZERO
    assert tenant_traces(storage_clients, other) == other_before
    assert elapsed < 30
    kinds = [(e["kind"], e["outcome"]) for e in client.audit(tenant_id) if e["purgeId"] == purge_id]
    assert ("purge.step", "verified") in kinds
    assert ("purge.requested", "queued") in kinds


def test_a_purge_message_delivered_twice_at_once_purges_once(
    client: ConsentClient, seeder: Seeder, storage_clients: StorageClients, tenant_id: str
) -> None:
    seeder.user(tenant_id, str(uuid.uuid4()), 10)
    record = unqueued_purge(storage_clients, tenant_id)
    queue = storage_clients.queue(PURGE_QUEUE)
    queue.send_message(message(record))
    queue.send_message(message(record))
    view = verified(client, tenant_id, record.id)
    assert view["verification"] == ZERO
    assert [s["name"] for s in view["steps"]].count("live-deleted") == 1
    assert view["counts"]["slices"] == 10


def test_a_poison_message_is_moved_back_by_the_maintenance_timer_and_finishes(
    client: ConsentClient, seeder: Seeder, storage_clients: StorageClients, tenant_id: str
) -> None:
    seeder.user(tenant_id, str(uuid.uuid4()), 6)
    record = unqueued_purge(storage_clients, tenant_id)
    storage_clients.queue(POISON_QUEUE).send_message(message(record))  # where the host parks it after 5 runs
    outcome = client.host.fire("maintenance")  # type: ignore[attr-defined]
    assert outcome["outcome"] == "Succeeded", outcome
    view = verified(client, tenant_id, record.id)
    assert (view["verification"], tenant_traces(storage_clients, tenant_id)) == (ZERO, ZERO)
    remaining = storage_clients.queue(POISON_QUEUE).peek_messages(max_messages=32)
    assert all(record.id not in m.content for m in remaining)


def test_a_withdrawal_of_a_tenant_with_no_data_is_verified_as_zero(
    client: ConsentClient, tenant_id: str
) -> None:
    client.put(f"/api/tenants/{tenant_id}/consent", tenant_id)
    purge_id = client.delete(f"/api/tenants/{tenant_id}/consent", tenant_id).json()["purgeId"]
    view = verified(client, tenant_id, purge_id)
    assert view["verification"] == ZERO
    assert set(view["counts"].values()) == {0}
