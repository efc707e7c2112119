"""Per-user tables over several storage accounts (`DATA_SHARDS`), on three accounts of the session's Azurite:
a user's rows live on one shard, a contact is read across all of them, and a purge deletes and verifies zero
on every shard, each shard named in its evidence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from devhost.azurite import Azurite
from functions.adapters.contact_store import TableContactStore
from functions.adapters.shard_placements import noted_endpoints
from functions.adapters.slice_store import TableSliceStore
from functions.adapters.storage import SHARDS_TABLE, StorageClients
from functions.domain.scope import Scope
from functions.settings import Settings
from tests.conftest import SHARDS, base_env
from tests.support.purge_data import Seeder, contact, interactions, tenant_traces
from tests.support.purge_rig import PurgeRig
from tests.support.shards import SHARDED, SHARDED_ZERO, rows_per_shard, user_on

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def test_the_session_azurite_serves_three_accounts(sharded_storage: StorageClients) -> None:
    assert len(sharded_storage.shards) == SHARDS
    assert len({shard.table("slices").url for shard in sharded_storage.shards}) == SHARDS


def test_a_users_slice_and_index_rows_are_written_to_that_users_shard_only(
    sharded_storage: StorageClients, tenant_id: str
) -> None:
    user = user_on(tenant_id, 2)
    Seeder(sharded_storage).user(tenant_id, user, 7)
    assert rows_per_shard(sharded_storage, "slices", tenant_id) == [0, 0, 7]
    assert rows_per_shard(sharded_storage, "contacts", tenant_id) == [0, 0, 7]
    assert len(list(TableSliceStore(sharded_storage).interactions(tenant_id, user))) == 7


def test_a_contact_is_read_from_every_shard(sharded_storage: StorageClients, tenant_id: str) -> None:
    seeder = Seeder(sharded_storage)
    users = [user_on(tenant_id, shard) for shard in range(SHARDS)]
    for user in users:
        seeder.user(tenant_id, user, 5)  # five contacts: contact(0) once per user
    found = TableContactStore(sharded_storage).interactions(tenant_id, contact(0))
    assert sorted(f.user_id for f in found) == sorted(users)


def test_a_row_written_before_and_after_a_change_of_shard_count_counts_once(
    storage_clients: StorageClients, sharded_storage: StorageClients, tenant_id: str
) -> None:
    user = user_on(tenant_id, 1)
    written = interactions(user, 5)
    TableContactStore(storage_clients).write(tenant_id, written, "run-before")  # one account: shard 0
    TableContactStore(sharded_storage).write(tenant_id, written, "run-after")  # three: shard 1
    assert rows_per_shard(sharded_storage, "contacts", tenant_id) == [5, 5, 0]
    found = TableContactStore(sharded_storage).interactions(tenant_id, contact(0))
    assert [f.key for f in found] == [written[0].key]


def test_removing_a_windows_interactions_removes_them_on_the_shard_they_are_on(
    sharded_storage: StorageClients, tenant_id: str
) -> None:
    on_zero, on_one = user_on(tenant_id, 0), user_on(tenant_id, 1)
    written = interactions(on_zero, 3) + interactions(on_one, 4)
    contacts = TableContactStore(sharded_storage)
    contacts.write(tenant_id, written, "run-1")
    assert rows_per_shard(sharded_storage, "contacts", tenant_id) == [3, 4, 0]
    assert contacts.delete_interactions(tenant_id, written) == 7
    assert rows_per_shard(sharded_storage, "contacts", tenant_id) == [0, 0, 0]


def test_a_tenant_purge_verifies_zero_on_every_shard_and_names_each_in_its_evidence(
    sharded_storage: StorageClients, tenant_id: str
) -> None:
    seeder = Seeder(sharded_storage)
    for shard, count in enumerate((4, 5, 6)):
        seeder.user(tenant_id, user_on(tenant_id, shard), count)
    rig = PurgeRig(sharded_storage, T0)
    record = rig.to_completion(rig.request(Scope("tenant", tenant_id)))
    assert (record.status, record.verification) == ("completed", SHARDED_ZERO)
    assert {name: record.counts[name] for name in ("slices", "slices@shard1", "slices@shard2")} == {
        "slices": 4,
        "slices@shard1": 5,
        "slices@shard2": 6,
    }
    assert record.counts["contacts@shard2"] == 6
    assert tenant_traces(sharded_storage, tenant_id) == SHARDED_ZERO
    for table in SHARDED:
        assert rows_per_shard(sharded_storage, table, tenant_id) == [0, 0, 0]


def test_a_user_purge_leaves_colleagues_on_the_other_shards(
    sharded_storage: StorageClients, tenant_id: str
) -> None:
    user, colleague = user_on(tenant_id, 1), user_on(tenant_id, 2)
    seeder = Seeder(sharded_storage)
    seeder.user(tenant_id, user, 6)
    seeder.user(tenant_id, colleague, 3)
    rig = PurgeRig(sharded_storage, T0)
    record = rig.to_completion(rig.request(Scope("user", tenant_id, user_id=user), "user-opt-out"))
    assert record.verification == SHARDED_ZERO
    assert rows_per_shard(sharded_storage, "slices", tenant_id) == [0, 0, 3]
    assert rows_per_shard(sharded_storage, "contacts", tenant_id) == [0, 0, 3]


def test_a_purge_finds_a_users_rows_on_a_shard_the_hash_does_not_name(
    storage_clients: StorageClients, sharded_storage: StorageClients, tenant_id: str
) -> None:
    # Written while the app had one account: all on shard 0. Three shards now place the user on shard 2, and
    # the purge must still find every row (it searches every shard instead of trusting the placement).
    user = user_on(tenant_id, 2)
    Seeder(storage_clients).user(tenant_id, user, 8)
    rig = PurgeRig(sharded_storage, T0)
    record = rig.to_completion(rig.request(Scope("user", tenant_id, user_id=user), "user-opt-out"))
    assert (record.counts["slices"], record.counts["contacts"]) == (8, 8)
    assert record.verification == SHARDED_ZERO
    assert rows_per_shard(sharded_storage, "slices", tenant_id) == [0, 0, 0]


def test_health_reports_each_shards_table_service(sharded_storage: StorageClients) -> None:
    assert sharded_storage.ping() == {
        "tables": True,
        "queues": True,
        "blobs": True,
        "tables-shard1": True,
        "tables-shard2": True,
    }


def test_a_shard_is_noted_for_a_tenant_when_one_of_its_users_is_placed_there(
    sharded_storage: StorageClients, tenant_id: str
) -> None:
    Seeder(sharded_storage).user(tenant_id, user_on(tenant_id, 2), 3)
    noted = noted_endpoints(sharded_storage.table(SHARDS_TABLE), tenant_id)
    assert noted == {sharded_storage.shards[2].table_endpoint}


def test_a_purge_does_not_verify_while_a_shard_holding_the_tenants_rows_is_taken_out_of_data_shards(
    azurite: Azurite, sharded_storage: StorageClients, tenant_id: str
) -> None:
    """Tried: rows written on shards 1 and 2, then DATA_SHARDS shortened to shard 1 alone; the purge searches
    shards 0 and 1, finds zero there, and must not call that zero. Named again, the shard is purged."""
    seeder = Seeder(sharded_storage)
    for shard in (1, 2):
        seeder.user(tenant_id, user_on(tenant_id, shard), 4)
    fewer = StorageClients(
        Settings.from_env(base_env(azurite.connection_string, DATA_SHARDS=azurite.data_shards(1))).storage
    )
    shortened = PurgeRig(fewer, T0)
    record = shortened.to_completion(shortened.request(Scope("tenant", tenant_id)))
    assert record.status != "completed"
    assert record.verification is not None
    assert record.verification["shards-out-of-reach"] == 1
    assert rows_per_shard(sharded_storage, "slices", tenant_id) == [
        0,
        0,
        4,
    ]  # what the shortened purge missed

    whole = PurgeRig(sharded_storage, T0)
    done = whole.to_completion(whole.stored(record))
    assert (done.status, done.verification) == ("completed", SHARDED_ZERO)
    assert rows_per_shard(sharded_storage, "slices", tenant_id) == [0, 0, 0]
