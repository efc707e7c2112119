"""The ingestion and insight stores on Azurite: slices, contact index, cursors, introductions, backups.

Each store is a ScopedStore: delete_scope / count_scope for tenant, user and feature scopes, idempotent, and
never touching another tenant or user.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from functions.adapters.backup_store import BlobBackupStore
from functions.adapters.contact_store import TableContactStore
from functions.adapters.cursor_store import TableCursorStore
from functions.adapters.introduction_store import TableIntroductionStore
from functions.adapters.slice_store import TableSliceStore
from functions.adapters.storage import StorageClients
from functions.domain.ingestion import Cursor, UserProfile
from functions.domain.interactions import Interaction
from functions.domain.introductions import IntroductionRequest, IntroductionTemplate
from functions.domain.scope import Scope
from functions.services.ports.purge import ScopedStore

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
ALICE, BOB = "a11ce000-0000-4000-8000-000000000001", "b0b00000-0000-4000-8000-000000000002"


def interaction(user: str, contact: str, key: str, days_ago: float = 1.0) -> Interaction:
    return Interaction(
        key=key, kind="email", user_id=user, contact=contact, at=NOW - timedelta(days=days_ago),
        direction="received", user_role="reader", contact_role="author", conversation="c1", minutes=0.0,
    )  # fmt: skip


def profile(tenant: str, user: str) -> UserProfile:
    return UserProfile(tenant, user, "Name", "n@contoso.com", "n@contoso.com", present=True, seen_at=NOW)


def contact_hash(n: int) -> str:
    return f"{n:064x}"


@pytest.fixture
def other_tenant() -> str:
    return str(uuid.uuid4())


def seed(
    storage: StorageClients, tenant: str, users: tuple[str, ...] = (ALICE, BOB), per_user: int = 3
) -> None:
    slices, contacts = TableSliceStore(storage), TableContactStore(storage)
    cursors, intros = TableCursorStore(storage), TableIntroductionStore(storage)
    backups = BlobBackupStore(storage)
    for user in users:
        interactions = [interaction(user, contact_hash(i), f"k{i}") for i in range(per_user)]
        slices.write(tenant, user, interactions, "run-1")
        contacts.write(tenant, interactions, "run-1")
        cursors.save(Cursor(tenant, user, "backfill-00", NOW - timedelta(days=30), NOW, "succeeded", NOW))
        cursors.save_profiles([profile(tenant, user)])
        intros.record(IntroductionRequest(tenant, user, user, contact_hash(0), NOW))
        backups.write(tenant, user, date(2026, 11, 27), slices.interactions(tenant, user))


def stores(storage: StorageClients) -> list[ScopedStore]:
    return [
        TableSliceStore(storage),
        TableContactStore(storage),
        TableCursorStore(storage),
        TableIntroductionStore(storage),
        BlobBackupStore(storage),
    ]


# --- slices and the contact index ---------------------------------------------------------------------------


def test_a_slice_round_trips_its_interactions(storage_clients: StorageClients, tenant_id: str) -> None:
    slices = TableSliceStore(storage_clients)
    interactions = [
        interaction(ALICE, contact_hash(1), "k1"),
        interaction(ALICE, contact_hash(2), "k2", days_ago=40),
    ]
    slices.write(tenant_id, ALICE, interactions, "run-1")
    assert sorted(slices.interactions(tenant_id, ALICE), key=lambda f: f.key) == interactions


def test_rewriting_a_window_overwrites_rather_than_adds(
    storage_clients: StorageClients, tenant_id: str
) -> None:
    slices, contacts = TableSliceStore(storage_clients), TableContactStore(storage_clients)
    interactions = [interaction(ALICE, contact_hash(1), "k1"), interaction(BOB, contact_hash(1), "k1")]
    for run in ("run-1", "run-2"):
        slices.write(tenant_id, ALICE, interactions[:1], run)
        contacts.write(tenant_id, interactions, run)
    assert len(list(slices.interactions(tenant_id, ALICE))) == 1
    assert len(contacts.interactions(tenant_id, contact_hash(1))) == 2


def test_the_contact_index_answers_one_contact_across_users(
    storage_clients: StorageClients, tenant_id: str
) -> None:
    seed(storage_clients, tenant_id)
    interactions = TableContactStore(storage_clients).interactions(tenant_id, contact_hash(1))
    assert {f.user_id for f in interactions} == {ALICE, BOB}
    assert {f.contact for f in interactions} == {contact_hash(1)}


def test_a_batch_of_more_than_a_hundred_rows_is_written_whole(
    storage_clients: StorageClients, tenant_id: str
) -> None:
    slices = TableSliceStore(storage_clients)
    interactions = [interaction(ALICE, contact_hash(1), f"k{i}") for i in range(250)]
    assert slices.write(tenant_id, ALICE, interactions, "run-1") == 250
    assert len(list(slices.interactions(tenant_id, ALICE))) == 250


def test_the_interactions_of_one_run_can_be_taken_back(
    storage_clients: StorageClients, tenant_id: str
) -> None:
    slices, contacts = TableSliceStore(storage_clients), TableContactStore(storage_clients)
    old, new = interaction(ALICE, contact_hash(1), "old"), interaction(ALICE, contact_hash(1), "new")
    slices.write(tenant_id, ALICE, [old], "run-1")
    slices.write(tenant_id, ALICE, [new], "run-2")
    contacts.write(tenant_id, [old], "run-1")
    contacts.write(tenant_id, [new], "run-2")
    written = slices.interactions_of_run(tenant_id, ALICE, "run-2")
    assert written == [new]
    contacts.delete_interactions(tenant_id, written)
    slices.delete_interactions(tenant_id, ALICE, written)
    assert list(slices.interactions(tenant_id, ALICE)) == [old]
    assert contacts.interactions(tenant_id, contact_hash(1)) == [old]


# --- cursors, introductions, backups ------------------------------------------------------------------------


def test_cursors_and_profiles_round_trip(storage_clients: StorageClients, tenant_id: str) -> None:
    cursors = TableCursorStore(storage_clients)
    cursor = Cursor(
        tenant_id, ALICE, "incremental", NOW - timedelta(days=1), None, "running", NOW,
        run_id="r", started_at=NOW, attempts=2, counts={"messages": 5}, delta_link='{"inbox": "x"}',
    )  # fmt: skip
    profile = UserProfile(
        tenant_id, ALICE, "Alice", "alice@contoso.com", "alice@contoso.com", present=True, seen_at=NOW
    )
    cursors.save(cursor)
    cursors.save_profiles([profile])
    state = cursors.tenant(tenant_id)
    assert state.cursors == [cursor]
    assert state.profiles == {ALICE: profile}
    assert cursors.get(tenant_id, ALICE, "incremental") == cursor
    assert cursors.running(Scope("user", tenant_id, user_id=ALICE)) == [cursor]


def test_introduction_requests_are_kept_newest_first_with_the_template(
    storage_clients: StorageClients, tenant_id: str
) -> None:
    intros = TableIntroductionStore(storage_clients)
    first = intros.record(IntroductionRequest(tenant_id, ALICE, BOB, contact_hash(1), NOW))
    second = intros.record(IntroductionRequest(tenant_id, BOB, ALICE, contact_hash(2), NOW + timedelta(1)))
    assert [r.id for r in intros.requests(tenant_id)] == [second.id, first.id]
    assert intros.template(tenant_id) is None
    template = IntroductionTemplate(subject="Intro to {contactAddress}", body="Hi {colleagueName}")
    intros.save_template(tenant_id, template, NOW)
    assert intros.template(tenant_id) == template


def slices_of(storage: StorageClients, tenant_id: str, user_id: str) -> list[Interaction]:
    return list(TableSliceStore(storage).interactions(tenant_id, user_id))


def test_a_backup_is_one_blob_per_user_and_day(storage_clients: StorageClients, tenant_id: str) -> None:
    seed(storage_clients, tenant_id)
    backups = BlobBackupStore(storage_clients)
    assert backups.names(f"{tenant_id}/") == [
        f"{tenant_id}/{user}/2026-11-27.jsonl" for user in sorted((ALICE, BOB))
    ]
    backed_up = backups.read(tenant_id, ALICE, date(2026, 11, 27))
    assert sorted(backed_up, key=lambda i: i.key) == sorted(
        slices_of(storage_clients, tenant_id, ALICE), key=lambda i: i.key
    )
    assert {i.user_id for i in backed_up} == {ALICE}


# --- ScopedStore --------------------------------------------------------------------------------------------


def test_a_user_scope_deletes_every_trace_of_that_user_only(
    storage_clients: StorageClients, tenant_id: str, other_tenant: str
) -> None:
    seed(storage_clients, tenant_id)
    seed(storage_clients, other_tenant)
    alice = Scope("user", tenant_id, user_id=ALICE)
    for store in stores(storage_clients):
        before = store.count_scope(alice)
        assert before > 0, store.name
        assert store.delete_scope(alice) == before, store.name
        assert store.count_scope(alice) == 0, store.name
        assert store.count_scope(Scope("user", tenant_id, user_id=BOB)) > 0, store.name
        assert store.count_scope(Scope("user", other_tenant, user_id=ALICE)) > 0, store.name


def test_a_user_purge_recomputes_the_contacts_they_touched(
    storage_clients: StorageClients, tenant_id: str
) -> None:
    seed(storage_clients, tenant_id)
    TableContactStore(storage_clients).delete_scope(Scope("user", tenant_id, user_id=ALICE))
    interactions = TableContactStore(storage_clients).interactions(tenant_id, contact_hash(1))
    assert {f.user_id for f in interactions} == {BOB}


def test_a_tenant_scope_deletes_the_whole_tenant_and_nothing_else(
    storage_clients: StorageClients, tenant_id: str, other_tenant: str
) -> None:
    seed(storage_clients, tenant_id)
    seed(storage_clients, other_tenant)
    TableIntroductionStore(storage_clients).save_template(
        tenant_id, IntroductionTemplate(subject="s", body="b"), NOW
    )
    tenant = Scope("tenant", tenant_id)
    for store in stores(storage_clients):
        before = store.count_scope(tenant)
        assert before > 0, store.name
        assert store.delete_scope(tenant) == before, store.name
        assert store.count_scope(tenant) == 0, store.name
        assert store.count_scope(Scope("tenant", other_tenant)) > 0, store.name


def test_deleting_a_scope_twice_is_harmless(storage_clients: StorageClients, tenant_id: str) -> None:
    seed(storage_clients, tenant_id)
    for scope in (Scope("user", tenant_id, user_id=ALICE), Scope("tenant", tenant_id)):
        for store in stores(storage_clients):
            store.delete_scope(scope)
            assert store.delete_scope(scope) == 0, store.name
            assert store.count_scope(scope) == 0, store.name


def test_a_feature_scope_takes_only_feature_specific_data(
    storage_clients: StorageClients, tenant_id: str
) -> None:
    seed(storage_clients, tenant_id)
    analytics = Scope("feature", tenant_id, feature="relationship_analytics")
    who = Scope("feature", tenant_id, feature="who_knows_whom")
    for store in stores(storage_clients):
        assert store.delete_scope(analytics) == 0, store.name
    intros = TableIntroductionStore(storage_clients)
    assert intros.count_scope(who) == 2
    assert intros.delete_scope(who) == 2
    assert intros.requests(tenant_id) == []
    assert TableSliceStore(storage_clients).count_scope(Scope("tenant", tenant_id)) == 6


def test_a_large_user_partition_is_deleted_in_batches(
    storage_clients: StorageClients, tenant_id: str
) -> None:
    slices = TableSliceStore(storage_clients)
    slices.write(
        tenant_id, ALICE, [interaction(ALICE, contact_hash(i % 7), f"k{i}") for i in range(430)], "r"
    )
    assert slices.delete_scope(Scope("user", tenant_id, user_id=ALICE)) == 430
    assert slices.count_scope(Scope("user", tenant_id, user_id=ALICE)) == 0
