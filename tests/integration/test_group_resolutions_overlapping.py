"""Resolutions of the opted-out groups' membership that overlap, on Azurite: the newest wins whole.

A scheduling run resolves the group list it read; if the admin adds a group meanwhile, the resolution that
change asks for runs beside it, and either may finish first. Whatever the order, nobody the newest resolution
found may be missing from what the inclusion decision reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.adapters import optout_store, table_batch
from functions.adapters.optout_store import TABLE, TableOptOutStore
from functions.adapters.storage import StorageClients
from functions.domain.consent import TenantConsent
from functions.domain.events import Provenance
from functions.domain.inclusion import GroupMembership, TenantInclusion
from functions.domain.optouts import GroupOptOuts, add_groups

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(storage_clients: StorageClients) -> TableOptOutStore:
    return TableOptOutStore(storage_clients)


def resolution(
    groups: Iterable[str], members: dict[str, set[str]], version: int, at: datetime = T0
) -> GroupMembership:
    return GroupMembership(frozenset(groups), {u: frozenset(g) for u, g in members.items()}, version, at)


def listed(store: TableOptOutStore, tenant_id: str, *groups: str) -> GroupOptOuts:
    """The tenant's group list replaced by `groups`, as the admin saves it (each call one version newer)."""
    provenance = Provenance("admin-oid", f"evt-{uuid.uuid4()}", T0, "webhook", T0)
    stored = store.load_groups(tenant_id)
    saved = add_groups(
        GroupOptOuts(tenant_id, version=stored.groups.version), groups, "admin", provenance
    ).groups
    store.save_groups(saved, stored.etag)
    return saved


def decisions(store: TableOptOutStore, tenant_id: str, user_id: str) -> tuple[str, str]:
    """The decision about one user as the tenant-wide read and as the ingestion fence's point read make it."""
    consent = TenantConsent(tenant_id, state="granted", version=1)
    snapshot = store.snapshot(tenant_id)
    wide = TenantInclusion.of(consent, snapshot.groups, [], snapshot.membership, [], T0)
    point = TenantInclusion.of(consent, snapshot.groups, [], store.membership_of(tenant_id, user_id), [], T0)
    return wide.decide(user_id).reason, point.decide(user_id).reason


def member_rows(storage: StorageClients, tenant_id: str) -> set[str]:
    rows = storage.table(TABLE).query_entities("PartitionKey eq @pk", parameters={"pk": tenant_id})
    return {str(r["RowKey"]) for r in rows if str(r["RowKey"]).startswith(("resolution-", "member-"))}


def saved_in_the_middle(monkeypatch: pytest.MonkeyPatch, late: Any) -> None:
    """Run `late()` once, right after the next save has written its member rows and before its marker."""
    real = table_batch.upsert_all
    pending = [late]

    def upsert_all(table: Any, entities: Iterable[Any], **kwargs: Any) -> int:
        written = real(table, entities, **kwargs)
        if pending:
            pending.pop()()
        return written

    monkeypatch.setattr(optout_store.table_batch, "upsert_all", upsert_all)


def test_an_older_resolution_saved_in_the_middle_of_a_newer_one_loses_none_of_its_members(
    store: TableOptOutStore, tenant_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tried: the list was {G1}, a resolution of it began; the admin replaced G1 by G2; the resolution of the
    new list wrote its rows (X in G2 only, Q in both), and then the old one saved whole (its marker, its rows
    and its clean-up) before the new one moved the marker. X and Q are members of the group in force."""
    g1, g2, x, q, a = (str(uuid.uuid4()) for _ in range(5))
    old_list = listed(store, tenant_id, g1)
    assert store.save_membership(tenant_id, resolution({g1}, {a: {g1}, q: {g1}}, old_list.version))
    new_list = listed(store, tenant_id, g2)
    older = resolution({g1}, {a: {g1}, q: {g1}}, old_list.version, T0 + timedelta(seconds=1))
    newer = resolution({g2}, {x: {g2}, q: {g2}}, new_list.version, T0 + timedelta(seconds=2))
    saved_in_the_middle(monkeypatch, lambda: store.save_membership(tenant_id, older))

    assert store.save_membership(tenant_id, newer)

    assert store.membership(tenant_id) == newer
    assert decisions(store, tenant_id, x) == ("group-opted-out", "group-opted-out")
    assert decisions(store, tenant_id, q) == ("group-opted-out", "group-opted-out")


def test_a_resolution_made_earlier_is_not_stored_over_a_later_one_of_the_same_list(
    store: TableOptOutStore, tenant_id: str
) -> None:
    group, early_member, late_member = (str(uuid.uuid4()) for _ in range(3))
    later = resolution({group}, {early_member: {group}, late_member: {group}}, 1, T0 + timedelta(minutes=1))
    assert store.save_membership(tenant_id, later)
    assert not store.save_membership(tenant_id, resolution({group}, {early_member: {group}}, 1, T0))
    assert store.membership(tenant_id) == later


def test_a_resolution_that_loses_the_marker_to_a_newer_one_leaves_no_rows(
    store: TableOptOutStore, storage_clients: StorageClients, tenant_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tried: the newer resolution saved whole while the older one was between its rows and its marker."""
    group, alice, bob = (str(uuid.uuid4()) for _ in range(3))
    newer = resolution({group}, {bob: {group}}, 2)
    saved_in_the_middle(monkeypatch, lambda: store.save_membership(tenant_id, newer))

    assert not store.save_membership(tenant_id, resolution({group}, {alice: {group}}, 1))

    assert store.membership(tenant_id) == newer
    rows = member_rows(storage_clients, tenant_id)
    assert rows
    assert all(key.endswith(bob) for key in rows)


def test_a_save_keeps_the_rows_of_the_resolution_it_replaced_and_deletes_those_before(
    store: TableOptOutStore, storage_clients: StorageClients, tenant_id: str
) -> None:
    """The replaced resolution's rows stay for a reader that read the marker just before the save."""
    group = str(uuid.uuid4())
    people = [str(uuid.uuid4()) for _ in range(3)]
    for version, person in enumerate(people):
        assert store.save_membership(tenant_id, resolution({group}, {person: {group}}, version))
    rows = member_rows(storage_clients, tenant_id)
    assert sorted(key[-36:] for key in rows) == sorted(people[1:])
    assert dict(store.membership(tenant_id).members) == {people[2]: {group}}


def test_rows_of_the_layout_before_resolution_ids_are_read_until_two_saves_replace_them(
    store: TableOptOutStore, storage_clients: StorageClients, tenant_id: str
) -> None:
    """Tried: a marker without an ID and a `member-{userId}` row, as the previous version of the app wrote."""
    group, alice, bob = (str(uuid.uuid4()) for _ in range(3))
    table = storage_clients.table(TABLE)
    table.upsert_entity({"PartitionKey": tenant_id, "RowKey": f"member-{alice}", "groups": f'["{group}"]'})
    table.upsert_entity(
        {
            "PartitionKey": tenant_id, "RowKey": "membership", "groupsVersion": 1,
            "resolvedAt": T0.isoformat(), "memberCount": 1, "groups": f'["{group}"]',
        }
    )  # fmt: skip
    listed(store, tenant_id, group)
    assert decisions(store, tenant_id, alice) == ("group-opted-out", "group-opted-out")
    assert dict(store.membership(tenant_id).members) == {alice: {group}}

    assert not store.save_membership(tenant_id, resolution({group}, {bob: {group}}, 0))  # older list
    assert store.save_membership(tenant_id, resolution({group}, {bob: {group}}, 1, T0 + timedelta(hours=1)))
    assert decisions(store, tenant_id, alice) == ("included", "included")
    assert f"member-{alice}" in member_rows(storage_clients, tenant_id)  # the replaced resolution's row
    assert store.save_membership(tenant_id, resolution({group}, {bob: {group}}, 1, T0 + timedelta(hours=2)))
    assert not any(key.startswith("member-") for key in member_rows(storage_clients, tenant_id))


def test_a_whole_read_that_finds_a_resolution_short_of_its_members_includes_nobody_it_did_not_see(
    store: TableOptOutStore, storage_clients: StorageClients, tenant_id: str
) -> None:
    """Tried: the marker names a resolution of two members, but one member's row is gone (two saves came
    between a reader's reads of the marker and of the rows). The missing member must not be decided
    `included`, by the tenant-wide read or by the one the insights use."""
    group, seen, unseen = (str(uuid.uuid4()) for _ in range(3))
    listed(store, tenant_id, group)
    assert store.save_membership(tenant_id, resolution({group}, {seen: {group}, unseen: {group}}, 1))
    table = storage_clients.table(TABLE)
    row = next(key for key in member_rows(storage_clients, tenant_id) if key.endswith(unseen))
    table.delete_entity(tenant_id, row)

    consent = TenantConsent(tenant_id, state="granted", version=1)
    snapshot = store.snapshot(tenant_id)
    wide = TenantInclusion.of(consent, snapshot.groups, [], snapshot.membership, [], T0)
    assert wide.decide(unseen).reason == "membership-unknown"
    assert wide.decide(seen).reason == "group-opted-out"
    assert not store.membership(tenant_id).covers({group})
