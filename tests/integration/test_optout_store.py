"""The opt-out store on Azurite, and opt-outs under concurrency: nothing is lost."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from functions.adapters.optout_store import TableOptOutStore
from functions.adapters.purge_store import TablePurgeStore
from functions.adapters.queues import PURGE_QUEUE
from functions.adapters.storage import StorageClients
from functions.bootstrap import Container
from functions.domain.errors import ConcurrencyConflict
from functions.domain.events import Provenance
from functions.domain.inclusion import GroupMembership
from functions.domain.optouts import GroupOptOuts, add_groups, change_user
from functions.services.consent import api_provenance
from functions.services.optouts import OptOutService
from tests.support.container import app_settings

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def change(at: datetime = T0) -> Provenance:
    return Provenance("admin-oid", f"evt-{uuid.uuid4()}", at, "webhook", at)


@pytest.fixture
def store(storage_clients: StorageClients) -> TableOptOutStore:
    return TableOptOutStore(storage_clients)


@pytest.fixture
def service(storage_clients: StorageClients) -> OptOutService:
    return Container(app_settings(), storage=storage_clients).optout_service


def test_groups_read_back_with_their_sources(store: TableOptOutStore, tenant_id: str) -> None:
    groups = add_groups(GroupOptOuts(tenant_id), [str(uuid.uuid4())], "legacy-migration", change()).groups
    store.save_groups(groups, None)
    assert store.load_groups(tenant_id).groups == groups


def test_a_thousand_groups_fit_in_the_groups_row(store: TableOptOutStore, tenant_id: str) -> None:
    many = [str(uuid.uuid4()) for _ in range(1000)]
    groups = add_groups(GroupOptOuts(tenant_id), many, "admin", change()).groups
    store.save_groups(groups, None)
    assert store.load_groups(tenant_id).groups.ids == set(many)


def test_a_user_row_reads_back_and_is_listed(store: TableOptOutStore, tenant_id: str) -> None:
    user_id = str(uuid.uuid4())
    user = change_user(
        None, tenant_id=tenant_id, user_id=user_id, opted_out=True, provenance=change(), purge_id="p-1"
    ).user
    assert user is not None
    store.save_user(user, None)
    assert store.load_user(tenant_id, user_id).user == user
    assert store.users(tenant_id) == [user]


def test_a_groups_write_based_on_an_old_read_loses(store: TableOptOutStore, tenant_id: str) -> None:
    store.save_groups(GroupOptOuts(tenant_id), None)
    old = store.load_groups(tenant_id)
    store.save_groups(add_groups(old.groups, [str(uuid.uuid4())], "admin", change()).groups, old.etag)
    with pytest.raises(ConcurrencyConflict):
        store.save_groups(add_groups(old.groups, [str(uuid.uuid4())], "admin", change()).groups, old.etag)


def test_a_replacement_older_than_a_grant_that_named_a_group_keeps_it_once_both_are_stored(
    storage_clients: StorageClients, tenant_id: str
) -> None:
    """Granted with [A] a minute after the list was replaced by [B]; the grant arrives first. In the order
    they were made A came after the form, so the stored list must remember when a grant named it."""
    container = Container(app_settings(), storage=storage_clients)
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    container.consent_service.grant(tenant_id, frozenset({a}), change(T0 + timedelta(minutes=1)))
    container.optout_service.replace_groups(tenant_id, frozenset({b}), change(T0))
    assert TableOptOutStore(storage_clients).load_groups(tenant_id).groups.ids == {a, b}


def test_thirty_parallel_user_opt_outs_of_one_tenant_lose_none(
    service: OptOutService, storage_clients: StorageClients, tenant_id: str
) -> None:
    users = [str(uuid.uuid4()) for _ in range(30)]

    def opt_out(user_id: str) -> str | None:
        return service.set_user(
            tenant_id, user_id, opted_out=True, provenance=api_provenance(user_id, T0)
        ).purge_id

    with ThreadPoolExecutor(max_workers=30) as pool:
        purge_ids = list(pool.map(opt_out, users))

    assert {u.user_id for u in service.lists(tenant_id).users} == set(users)
    assert len(set(purge_ids)) == 30
    queued = [
        json.loads(m.content)
        for m in storage_clients.queue(PURGE_QUEUE).peek_messages(max_messages=32)
        if json.loads(m.content)["tenantId"] == tenant_id
    ]
    assert len(queued) <= 30  # peek sees at most 32 of a shared queue; the purge ledger is the full proof
    assert {p.id for p in TablePurgeStore(storage_clients).list(tenant_id)} == set(purge_ids)


def test_thirty_parallel_group_additions_retry_on_etag_conflicts_and_lose_none(
    store: TableOptOutStore, tenant_id: str
) -> None:
    from functions.services.consent import retry_conflicts  # noqa: PLC0415

    groups = [str(uuid.uuid4()) for _ in range(30)]

    def add(group_id: str) -> None:
        def attempt() -> None:
            stored = store.load_groups(tenant_id)
            store.save_groups(add_groups(stored.groups, [group_id], "admin", change()).groups, stored.etag)

        retry_conflicts(attempt)

    with ThreadPoolExecutor(max_workers=30) as pool:
        list(pool.map(add, groups))

    assert store.load_groups(tenant_id).groups.ids == set(groups)


def test_thirty_parallel_group_replacements_end_with_exactly_one_of_them(
    service: OptOutService, tenant_id: str
) -> None:
    lists = [frozenset({str(uuid.uuid4())}) for _ in range(30)]

    def replace(index: int) -> None:
        service.replace_groups(tenant_id, lists[index], change(T0 + timedelta(seconds=index)))

    with ThreadPoolExecutor(max_workers=30) as pool:
        list(pool.map(replace, range(30)))

    assert service.lists(tenant_id).groups.ids == lists[29]  # the newest event wins, whatever the order


def resolution(
    groups: set[str], members: dict[str, set[str]], version: int, at: datetime = T0
) -> GroupMembership:
    return GroupMembership(
        frozenset(groups), {u.lower(): frozenset(g) for u, g in members.items()}, version, at
    )


def test_a_tenant_never_resolved_has_a_membership_that_covers_no_group(
    store: TableOptOutStore, tenant_id: str
) -> None:
    assert not store.membership(tenant_id).covers({str(uuid.uuid4())})
    assert store.membership(tenant_id).covers(set())


def test_a_resolution_reads_back_whole_and_for_one_user(store: TableOptOutStore, tenant_id: str) -> None:
    g1, g2, alice, bob = (str(uuid.uuid4()) for _ in range(4))
    saved = resolution({g1, g2}, {alice.upper(): {g1}, bob: {g1, g2}}, version=3)
    assert store.save_membership(tenant_id, saved)
    assert store.membership(tenant_id) == saved
    one = store.membership_of(tenant_id, alice)
    assert (one.groups, one.groups_version, dict(one.members)) == (saved.groups, 3, {alice: {g1}})
    assert dict(store.membership_of(tenant_id, str(uuid.uuid4())).members) == {}


def test_a_new_resolution_replaces_the_members_as_a_whole_and_leaves_user_opt_outs_alone(
    store: TableOptOutStore, tenant_id: str
) -> None:
    group, stays, leaves, joins, opted_out = (str(uuid.uuid4()) for _ in range(5))
    user = change_user(
        None, tenant_id=tenant_id, user_id=opted_out, opted_out=True, provenance=change(), purge_id="p-1"
    ).user
    assert user is not None
    store.save_user(user, None)
    store.save_membership(tenant_id, resolution({group}, {stays: {group}, leaves: {group}}, 1))
    store.save_membership(tenant_id, resolution({group}, {stays: {group}, joins: {group}}, 1, T0 + DAY))
    assert set(store.membership(tenant_id).members) == {stays, joins}
    assert store.membership(tenant_id).resolved_at == T0 + DAY
    assert [u.user_id for u in store.users(tenant_id)] == [opted_out]


def test_a_resolution_of_an_older_group_list_is_not_stored_over_a_newer_one(
    store: TableOptOutStore, tenant_id: str
) -> None:
    g1, g2, alice, bob = (str(uuid.uuid4()) for _ in range(4))
    newer = resolution({g1, g2}, {alice: {g2}}, version=5)
    assert store.save_membership(tenant_id, newer)
    assert not store.save_membership(tenant_id, resolution({g1}, {bob: {g1}}, version=4))
    assert store.membership(tenant_id) == newer


def test_a_thousand_members_are_saved_and_read_back(store: TableOptOutStore, tenant_id: str) -> None:
    group = str(uuid.uuid4())
    members = {str(uuid.uuid4()): {group} for _ in range(1000)}
    store.save_membership(tenant_id, resolution({group}, members, 1))
    assert set(store.membership(tenant_id).members) == set(members)


def test_concurrent_resolutions_of_the_same_and_newer_lists_leave_the_newest_marker(
    store: TableOptOutStore, tenant_id: str
) -> None:
    group = str(uuid.uuid4())
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda v: store.save_membership(tenant_id, resolution({group}, {}, v)), range(8)))
    assert store.membership(tenant_id).groups_version == 7


def test_a_snapshot_reads_the_groups_users_and_membership_in_one_go(
    store: TableOptOutStore, tenant_id: str
) -> None:
    group, alice, bob = (str(uuid.uuid4()) for _ in range(3))
    groups = add_groups(GroupOptOuts(tenant_id), [group], "admin", change()).groups
    store.save_groups(groups, None)
    user = change_user(
        None, tenant_id=tenant_id, user_id=alice, opted_out=True, provenance=change(), purge_id="p-1"
    ).user
    assert user is not None
    store.save_user(user, None)
    resolved = resolution({group}, {bob: {group}}, version=groups.version)
    store.save_membership(tenant_id, resolved)
    snapshot = store.snapshot(tenant_id)
    assert (snapshot.groups, snapshot.users, snapshot.membership) == (groups, [user], resolved)


def test_a_snapshot_of_a_tenant_with_nothing_stored_is_empty(store: TableOptOutStore, tenant_id: str) -> None:
    snapshot = store.snapshot(tenant_id)
    assert (snapshot.groups.ids, snapshot.users, snapshot.membership.groups) == (frozenset(), [], frozenset())
