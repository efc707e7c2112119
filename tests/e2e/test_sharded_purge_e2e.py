"""A host whose per-user tables are spread over three storage accounts (`DATA_SHARDS`): a withdrawal over the
REST API is purged by the queue function and the purge API proves zero on every shard, naming each."""

from __future__ import annotations

import time
from typing import Any

import pytest

from functions.adapters.storage import StorageClients
from tests.conftest import SHARDS
from tests.support.apphost import AppHost
from tests.support.consent_client import ConsentClient, Identity
from tests.support.purge_api import verified
from tests.support.purge_data import Seeder, tenant_traces
from tests.support.shards import SHARDED, SHARDED_ZERO, rows_per_shard, user_on

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client(app_host_factory: Any, identity: Identity, sharded_env: dict[str, str]) -> ConsentClient:
    host: AppHost = app_host_factory(**identity.host_settings(), DATA_SHARDS=sharded_env["DATA_SHARDS"])
    return ConsentClient(host, identity)


def test_the_host_reports_every_shard_healthy(client: ConsentClient) -> None:
    body = client.host.get("/api/health").json()  # type: ignore[attr-defined]
    assert body["storage"] == {"tables": True, "queues": True, "blobs": True} | {
        f"tables-shard{n}": True for n in range(1, SHARDS)
    }


def test_a_withdrawal_is_verified_zero_on_every_shard(
    client: ConsentClient, sharded_storage: StorageClients, tenant_id: str
) -> None:
    seeder = Seeder(sharded_storage)
    for shard, count in enumerate((3, 4, 5)):
        seeder.user(tenant_id, user_on(tenant_id, shard), count)
    assert rows_per_shard(sharded_storage, "slices", tenant_id) == [3, 4, 5]
    client.put(f"/api/tenants/{tenant_id}/consent", tenant_id)
    started = time.monotonic()
    purge_id = client.delete(f"/api/tenants/{tenant_id}/consent", tenant_id).json()["purgeId"]
    view = verified(client, tenant_id, purge_id)
    assert view["verification"] == SHARDED_ZERO
    assert {name: view["counts"][name] for name in SHARDED_ZERO if name.startswith(SHARDED)} == {
        "slices": 3, "slices@shard1": 4, "slices@shard2": 5,
        "contacts": 3, "contacts@shard1": 4, "contacts@shard2": 5,
    }  # fmt: skip
    assert tenant_traces(sharded_storage, tenant_id) == SHARDED_ZERO
    for table in SHARDED:
        assert rows_per_shard(sharded_storage, table, tenant_id) == [0, 0, 0]
    assert time.monotonic() - started < 30
