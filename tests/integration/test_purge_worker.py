"""The purge over the real stores on Azurite: every trace of the scope gone and verified, nothing of other
tenants or users touched, the story in the audit log; crashes, double deliveries and empty tenants."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest

from functions.adapters.storage import StorageClients
from functions.domain.purge import GroupScope
from functions.domain.scope import Scope
from functions.services.purge import PurgeBusy
from tests.support.purge_data import ZERO, Seeder, tenant_traces
from tests.support.purge_rig import PurgeRig

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
FULL_STORY = [
    ("purge.step", "live-deleted"),
    ("purge.step", "backups-deleted"),
    ("purge.step", "verified"),
    ("purge.sweep-pending", "waiting"),
    ("purge.step", "swept"),
    ("purge.step", "sweep-verified"),
    ("purge.completed", "verified-zero"),
]


def uid() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def rig(storage_clients: StorageClients) -> PurgeRig:
    return PurgeRig(storage_clients, T0)


@pytest.fixture
def seeder(storage_clients: StorageClients) -> Seeder:
    return Seeder(storage_clients)


def test_a_tenant_purge_removes_every_trace_and_touches_no_other_tenant(
    rig: PurgeRig, seeder: Seeder, storage_clients: StorageClients, tenant_id: str
) -> None:
    other = uid()
    for user in (uid(), uid()):
        seeder.user(tenant_id, user, 12)
    seeder.user(other, uid(), 7)
    other_before = tenant_traces(storage_clients, other)
    record = rig.to_completion(rig.request(Scope("tenant", tenant_id)))
    assert record.status == "completed"
    assert rig.traces(Scope("tenant", tenant_id)) == ZERO
    assert record.verification == ZERO
    assert record.counts == {
        "subscriptions": 0,
        "accounts": 0,
        "slices": 24,
        "contacts": 24,
        "cursors": 2,
        "introductions": 2,
        "consents": 0,
        "shards-out-of-reach": 0,
        "backups": 2,
    }
    assert tenant_traces(storage_clients, other) == other_before
    assert rig.story(tenant_id, record.id) == FULL_STORY


def test_a_user_purge_leaves_the_colleagues_slices_index_and_backups(
    rig: PurgeRig, seeder: Seeder, storage_clients: StorageClients, tenant_id: str
) -> None:
    user, colleague = uid(), uid()
    seeder.user(tenant_id, user, 9)
    seeder.user(tenant_id, colleague, 6)
    colleague_before = tenant_traces(storage_clients, tenant_id, colleague)
    record = rig.to_completion(rig.request(Scope("user", tenant_id, user_id=user), "user-opt-out"))
    assert rig.traces(Scope("user", tenant_id, user_id=user)) == ZERO
    assert tenant_traces(storage_clients, tenant_id, colleague) == colleague_before
    assert record.counts["slices"] == 9


def test_a_group_purge_removes_its_members_and_no_one_else(
    rig: PurgeRig, seeder: Seeder, storage_clients: StorageClients, tenant_id: str
) -> None:
    group, member, outsider = uid(), uid(), uid()
    rig.members.groups[(tenant_id, group)] = {member}
    seeder.user(tenant_id, member, 5)
    seeder.user(tenant_id, outsider, 5)
    outsider_before = tenant_traces(storage_clients, tenant_id, outsider)
    record = rig.to_completion(rig.request(GroupScope(tenant_id, frozenset({group})), "group-opt-out"))
    assert (record.status, record.members) == ("completed", (member,))
    assert rig.traces(Scope("user", tenant_id, user_id=member)) == ZERO
    assert tenant_traces(storage_clients, tenant_id, outsider) == outsider_before


@pytest.mark.parametrize("crash_after", ["live-deleted", "backups-deleted", "verified"])
def test_a_crash_after_any_step_is_finished_by_the_next_delivery(
    storage_clients: StorageClients, seeder: Seeder, tenant_id: str, crash_after: str
) -> None:
    crashed: list[str] = []

    def crash(step: str) -> None:
        if step == crash_after and not crashed:
            crashed.append(step)
            raise RuntimeError(f"injected crash after {step}")

    rig = PurgeRig(storage_clients, T0, after_step=crash)
    other = uid()
    seeder.user(tenant_id, uid(), 8)
    seeder.user(other, uid(), 8)
    other_before = tenant_traces(storage_clients, other)
    record = rig.to_completion(rig.request(Scope("tenant", tenant_id)))
    assert crashed == [crash_after]
    assert (record.status, record.verification, record.lease_owner) == ("completed", ZERO, None)
    assert tenant_traces(storage_clients, other) == other_before
    story = rig.story(tenant_id, record.id)
    assert ("purge.attempt-failed", "retrying") in story
    assert story[-1] == ("purge.completed", "verified-zero")


def test_a_crash_right_after_the_sweep_leaves_the_purge_completed_and_audited_once(
    storage_clients: StorageClients, seeder: Seeder, tenant_id: str
) -> None:
    def crash(step: str) -> None:
        if step == "completed":
            raise RuntimeError("injected crash after the sweep")

    rig = PurgeRig(storage_clients, T0, after_step=crash)
    seeder.user(tenant_id, uid(), 4)
    record = rig.to_completion(rig.request(Scope("tenant", tenant_id)))
    assert (record.status, record.verification, record.lease_owner) == ("completed", ZERO, None)
    assert rig.story(tenant_id, record.id) == FULL_STORY


def test_a_message_delivered_twice_at_once_runs_the_purge_once(
    storage_clients: StorageClients, seeder: Seeder, tenant_id: str
) -> None:
    seeder.user(tenant_id, uid(), 10)
    inside, release = threading.Event(), threading.Event()

    def hold(step: str) -> None:
        if step == "live-deleted" and not inside.is_set():
            inside.set()
            release.wait(10)

    rig = PurgeRig(storage_clients, T0, after_step=hold)
    record = rig.request(Scope("tenant", tenant_id))
    first = threading.Thread(target=rig.run, args=(record,))
    first.start()
    assert inside.wait(10)
    with pytest.raises(PurgeBusy):
        rig.run(record)  # the second copy: refused, so the host retries it later
    release.set()
    first.join(10)
    done = rig.to_completion(record)
    assert (done.status, done.verification) == ("completed", ZERO)
    assert [name for name, _ in rig.story(tenant_id, record.id)].count("purge.completed") == 1
    assert [s.name for s in done.steps].count("live-deleted") == 1


def test_a_purge_of_a_tenant_with_no_data_completes_and_proves_zero(rig: PurgeRig, tenant_id: str) -> None:
    record = rig.to_completion(rig.request(Scope("tenant", tenant_id)))
    assert (record.status, record.verification) == ("completed", ZERO)
    assert set(record.counts.values()) == {0}
    assert rig.story(tenant_id, record.id) == FULL_STORY


def test_a_completed_purge_delivered_again_is_a_no_op(rig: PurgeRig, seeder: Seeder, tenant_id: str) -> None:
    seeder.user(tenant_id, uid(), 3)
    record = rig.to_completion(rig.request(Scope("tenant", tenant_id)))
    assert rig.run(record).actions == ("done",)
    assert rig.stored(record) == record
