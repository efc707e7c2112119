"""The contact index's layout on Azurite: a partition per contact and user, and rows written before it.

A hot contact must not be one partition that a whole tenant's backfill writes into, so each user's rows of a
contact are a partition of their own (`{tenantId}_{contactHash}_{userId}`); a read of the contact is one range
of keys. Rows written in the layout before (partition `{tenantId}_{contactHash}`) must still be read once,
taken back and purged: the index is never left holding a row its slice no longer has.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from functions.adapters import interaction_codec, table_batch
from functions.adapters.contact_store import TableContactStore, contact_prefix, contact_row_key
from functions.adapters.storage import StorageClients
from functions.domain.interactions import Interaction
from functions.domain.scope import Scope

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
ALICE, BOB = "a11ce000-0000-4000-8000-000000000001", "b0b00000-0000-4000-8000-000000000002"
BUYER, PARTNER = f"{1:064x}", f"{2:064x}"


def interaction(user: str, contact: str, key: str) -> Interaction:
    return Interaction(
        key=key, kind="email", user_id=user, contact=contact, at=NOW - timedelta(days=1),
        direction="received", user_role="reader", contact_role="author", conversation="c1", minutes=0.0,
    )  # fmt: skip


def write_legacy(storage: StorageClients, tenant_id: str, interactions: list[Interaction]) -> None:
    """Rows as the index wrote them before its partitions named the user."""
    rows = [
        interaction_codec.to_entity(i, contact_prefix(tenant_id, i.contact), contact_row_key(i), "run-before")
        for i in interactions
    ]
    table_batch.upsert_all(storage.table("contacts"), sorted(rows, key=lambda r: str(r["PartitionKey"])))


def partitions(storage: StorageClients, tenant_id: str) -> dict[str, int]:
    start, end = table_batch.prefix_range(f"{tenant_id}_")
    found: dict[str, int] = {}
    for pk, _ in table_batch.query_keys(
        storage.table("contacts"), "PartitionKey ge @s and PartitionKey lt @e", {"s": start, "e": end}
    ):
        found[pk] = found.get(pk, 0) + 1
    return found


def test_each_user_s_rows_of_a_contact_are_a_partition_of_their_own(
    storage_clients: StorageClients, tenant_id: str
) -> None:
    contacts = TableContactStore(storage_clients)
    contacts.write(
        tenant_id,
        [interaction(ALICE, BUYER, "k1"), interaction(ALICE, BUYER, "k2"), interaction(BOB, BUYER, "k1")],
        "run-1",
    )
    assert partitions(storage_clients, tenant_id) == {
        f"{tenant_id}_{BUYER}_{ALICE}": 2,
        f"{tenant_id}_{BUYER}_{BOB}": 1,
    }
    assert len(contacts.interactions(tenant_id, BUYER)) == 3


def test_a_read_of_a_contact_returns_no_other_contact_s_rows(
    storage_clients: StorageClients, tenant_id: str
) -> None:
    contacts = TableContactStore(storage_clients)
    contacts.write(tenant_id, [interaction(ALICE, BUYER, "k1"), interaction(ALICE, PARTNER, "k2")], "run-1")
    assert [i.key for i in contacts.interactions(tenant_id, BUYER)] == ["k1"]


def test_rows_written_before_the_layout_changed_are_read_and_count_once(
    storage_clients: StorageClients, tenant_id: str
) -> None:
    both, before_only = interaction(ALICE, BUYER, "k1"), interaction(BOB, BUYER, "k2")
    write_legacy(storage_clients, tenant_id, [both, before_only])
    TableContactStore(storage_clients).write(tenant_id, [both], "run-after")  # the same message read again
    found = TableContactStore(storage_clients).interactions(tenant_id, BUYER)
    assert sorted(found, key=lambda i: i.key) == [both, before_only]


def test_taking_back_interactions_removes_their_rows_in_either_layout(
    storage_clients: StorageClients, tenant_id: str
) -> None:
    contacts = TableContactStore(storage_clients)
    withdrawn = [interaction(ALICE, BUYER, "k1"), interaction(ALICE, PARTNER, "k2")]
    kept = interaction(ALICE, BUYER, "k3")
    write_legacy(storage_clients, tenant_id, [*withdrawn, kept])
    contacts.write(tenant_id, withdrawn[:1], "run-after")
    assert contacts.delete_interactions(tenant_id, withdrawn) == 3  # two rows before, one after
    assert contacts.interactions(tenant_id, BUYER) == [kept]
    assert contacts.interactions(tenant_id, PARTNER) == []


def test_taking_back_another_user_s_interaction_leaves_this_user_s_row_of_the_same_key(
    storage_clients: StorageClients, tenant_id: str
) -> None:
    contacts = TableContactStore(storage_clients)
    alices, bobs = interaction(ALICE, BUYER, "k1"), interaction(BOB, BUYER, "k1")
    write_legacy(storage_clients, tenant_id, [alices, bobs])
    contacts.write(tenant_id, [alices, bobs], "run-after")
    contacts.delete_interactions(tenant_id, [bobs])
    assert contacts.interactions(tenant_id, BUYER) == [alices]


def test_a_user_purge_leaves_none_of_their_rows_in_either_layout(
    storage_clients: StorageClients, tenant_id: str
) -> None:
    contacts = TableContactStore(storage_clients)
    write_legacy(storage_clients, tenant_id, [interaction(ALICE, BUYER, "k1"), interaction(BOB, BUYER, "k1")])
    contacts.write(tenant_id, [interaction(ALICE, BUYER, "k2"), interaction(BOB, BUYER, "k2")], "run-after")
    alice = Scope("user", tenant_id, user_id=ALICE)
    assert contacts.delete_scope(alice) == 2
    assert contacts.count_scope(alice) == 0
    assert {i.user_id for i in contacts.interactions(tenant_id, BUYER)} == {BOB}


def test_a_tenant_purge_leaves_no_row_in_either_layout(
    storage_clients: StorageClients, tenant_id: str
) -> None:
    contacts = TableContactStore(storage_clients)
    write_legacy(storage_clients, tenant_id, [interaction(ALICE, BUYER, "k1")])
    contacts.write(tenant_id, [interaction(BOB, PARTNER, "k1")], "run-after")
    tenant = Scope("tenant", tenant_id)
    assert contacts.delete_scope(tenant) == 2
    assert contacts.count_scope(tenant) == 0
    assert partitions(storage_clients, tenant_id) == {}
