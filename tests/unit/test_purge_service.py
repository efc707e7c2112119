"""The purge use case over in-memory stores: what it deletes, verifies, records and audits, and how it
recovers from crashes, concurrent deliveries and late writes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from functions.domain.events import Provenance
from functions.domain.purge import GroupScope, PurgeRecord, PurgeTarget, deadline_outcomes, new_purge
from functions.domain.scope import Scope
from functions.services.purge import PurgeBusy, PurgeIncomplete
from tests.support.container import PurgeWorld

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
STEPS = ("live-deleted", "backups-deleted", "verified")


def ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def requested(world: PurgeWorld, scope: PurgeTarget, reason: str = "consent-revoked") -> PurgeRecord:
    provenance = Provenance("admin", f"evt-{uuid.uuid4()}", T0, "webhook", T0)
    return world.ledger.put(new_purge(scope, reason, provenance))  # type: ignore[arg-type]


def stored(world: PurgeWorld, record: PurgeRecord) -> PurgeRecord:
    found = world.ledger.get(record.tenant_id, record.id)
    assert found is not None
    return found


@pytest.fixture
def world() -> PurgeWorld:
    return PurgeWorld(T0)


def test_a_tenant_purge_deletes_every_store_of_that_tenant_and_nothing_else(world: PurgeWorld) -> None:
    tenant, other = ids(2)
    for user in ids(3):
        world.seed(tenant, user)
    world.seed(other, "someone")
    record = world.run_to_completion(requested(world, Scope("tenant", tenant)))
    assert record.status == "completed"
    assert world.count(tenant) == 0
    assert world.count(other) == 5 * 3
    assert record.counts == {"slices": 9, "contacts": 9, "cursors": 9, "introductions": 9, "backups": 9}


def test_a_user_purge_leaves_the_other_users_of_the_tenant(world: PurgeWorld) -> None:
    tenant, user, colleague = ids(3)
    world.seed(tenant, user)
    world.seed(tenant, colleague)
    world.run_to_completion(requested(world, Scope("user", tenant, user_id=user), "user-opt-out"))
    assert world.count(tenant, user) == 0
    assert world.count(tenant, colleague) == 15


def test_the_first_pass_ends_verified_with_the_sweep_due_after_the_fence(world: PurgeWorld) -> None:
    tenant = ids(1)[0]
    world.seed(tenant, "u")
    record = requested(world, Scope("tenant", tenant))
    world.run(record)
    after = world.ledger.get(tenant, record.id)
    assert after is not None
    assert (after.status, after.verification) == ("verified", dict.fromkeys(world.service.store_names, 0))
    assert after.fence_at == T0 + world.fence_delay
    assert after.lease_owner is None


def test_the_sweep_removes_what_an_ingestion_already_running_wrote_after_the_first_pass(
    world: PurgeWorld,
) -> None:
    tenant = ids(1)[0]
    world.seed(tenant, "u")
    record = requested(world, Scope("tenant", tenant))
    world.run(record)
    world.live["slices"].put(tenant, "u", 7)  # a window that started before the revocation writes late
    world.clock.advance(world.fence_delay)
    world.run(record)
    final = world.ledger.get(tenant, record.id)
    assert final is not None
    assert final.status == "completed"
    assert world.count(tenant) == 0
    swept = next(s for s in final.steps if s.name == "swept")
    assert swept.counts["slices"] == 7


def test_a_delivery_before_the_fence_leaves_the_sweep_for_later(world: PurgeWorld) -> None:
    tenant = ids(1)[0]
    record = requested(world, Scope("tenant", tenant))
    world.run(record)
    world.clock.advance(timedelta(minutes=5))
    run = world.service.run(tenant, record.id, world.clock)  # e.g. a duplicate message
    assert (run.actions, run.sweep_in) == (("wait-for-fence",), world.fence_delay - timedelta(minutes=5))
    assert stored(world, record).status == "verified"


def test_every_step_is_recorded_with_its_counts_and_audited(world: PurgeWorld) -> None:
    tenant = ids(1)[0]
    world.seed(tenant, "u", per_store=2)
    record = world.run_to_completion(requested(world, Scope("tenant", tenant)))
    names = [s.name for s in record.steps]
    assert names == ["live-deleted", "backups-deleted", "verified", "swept", "sweep-verified"]
    assert record.steps[0].counts == {"slices": 2, "contacts": 2, "cursors": 2, "introductions": 2}
    assert all(s.duration_ms is not None for s in record.steps)
    audited = [(e.kind, e.outcome) for e in reversed(world.audit.of(tenant))]
    assert audited == [
        ("purge.step", "live-deleted"),
        ("purge.step", "backups-deleted"),
        ("purge.step", "verified"),
        ("purge.sweep-pending", "waiting"),
        ("purge.step", "swept"),
        ("purge.step", "sweep-verified"),
        ("purge.completed", "verified-zero"),
    ]
    assert all(e.purge_id == record.id and e.subject_ids == (tenant,) for e in world.audit.of(tenant))


@pytest.mark.parametrize("crash_after", STEPS)
def test_a_crash_after_any_step_is_recovered_by_the_next_delivery(crash_after: str) -> None:
    crashes = [crash_after]

    def crash(step: str) -> None:
        if crashes and step == crashes[0]:
            crashes.pop()
            raise RuntimeError(f"injected crash after {step}")

    world = PurgeWorld(T0, after_step=crash)
    tenant, other = ids(2)
    world.seed(tenant, "u")
    world.seed(other, "u")
    record = requested(world, Scope("tenant", tenant))
    for _ in range(4):  # deliveries until done: retries, then the delayed sweep
        try:
            world.run(record)
        except RuntimeError:
            continue
        world.clock.advance(world.fence_delay)
    final = world.ledger.get(tenant, record.id)
    assert final is not None
    assert (final.status, final.lease_owner, world.count(tenant), world.count(other)) == (
        "completed",
        None,
        0,
        15,
    )
    assert any(e.kind == "purge.attempt-failed" for e in world.audit.of(tenant))


def test_a_second_delivery_while_the_first_holds_the_lease_is_refused_for_a_retry(world: PurgeWorld) -> None:
    tenant = ids(1)[0]
    record = requested(world, Scope("tenant", tenant))
    seen: list[Exception] = []

    def deliver_again(step: str) -> None:
        if step == "live-deleted":
            try:
                world.run(record)
            except PurgeBusy as busy:
                seen.append(busy)

    world.steps.hook = deliver_again  # the second delivery arrives while the first is mid-way
    world.run(record)
    assert len(seen) == 1
    after = stored(world, record)
    assert (after.status, after.attempts) == ("verified", 1)


def test_a_verification_that_finds_data_sends_the_purge_back_to_deletion(world: PurgeWorld) -> None:
    tenant = ids(1)[0]
    record = requested(world, Scope("tenant", tenant))

    def late_write(step: str) -> None:
        if step == "backups-deleted" and not world.live["cursors"].total(tenant):
            world.live["cursors"].put(tenant, "u", 2)

    world.steps.hook = late_write
    with pytest.raises(PurgeIncomplete):
        world.run(record)
    after = world.ledger.get(tenant, record.id)
    assert after is not None
    assert (after.status, after.verification and after.verification["cursors"]) == ("queued", 2)
    world.steps.hook = None
    world.run(record)
    assert world.count(tenant) == 0


def test_a_storage_failure_is_noted_on_the_record_by_its_class_alone_and_releases_the_lease(
    world: PurgeWorld,
) -> None:
    """The error's text stays in the log: stored text outlives it, and may carry what a response held."""
    tenant = ids(1)[0]
    record = requested(world, Scope("tenant", tenant))
    world.live["contacts"].fail_deletes = 1
    with pytest.raises(OSError, match="contacts is unavailable"):
        world.run(record)
    after = world.ledger.get(tenant, record.id)
    assert after is not None
    assert (after.status, after.lease_owner) == ("queued", None)
    assert after.last_error == "OSError"
    assert [e.detail for e in world.audit.of(tenant) if e.kind == "purge.attempt-failed"] == ["OSError"]
    world.run(record)  # the retry does not wait for a lease
    assert stored(world, record).status == "verified"


def test_a_group_purge_purges_the_groups_resolved_members_only(world: PurgeWorld) -> None:
    tenant, group, member, nested, outsider = ids(5)
    world.members.groups[(tenant, group)] = {member, nested}
    for user in (member, nested, outsider):
        world.seed(tenant, user)
    record = world.run_to_completion(
        requested(world, GroupScope(tenant, frozenset({group})), "group-opt-out")
    )
    assert record.members == tuple(sorted((member, nested)))
    assert (world.count(tenant, member), world.count(tenant, nested), world.count(tenant, outsider)) == (
        0,
        0,
        15,
    )
    assert world.members.calls == 1  # resolved once; later deliveries use the recorded members


def test_a_group_membership_purge_is_an_ordinary_user_purge(world: PurgeWorld) -> None:
    tenant, user = ids(2)
    world.seed(tenant, user)
    record = world.run_to_completion(
        requested(world, Scope("user", tenant, user_id=user), "group-membership")
    )
    assert (record.status, record.reason, world.count(tenant, user)) == ("completed", "group-membership", 0)


def test_a_purge_of_a_tenant_without_data_completes_with_zero_counts(world: PurgeWorld) -> None:
    tenant = ids(1)[0]
    record = world.run_to_completion(requested(world, Scope("tenant", tenant)))
    assert record.status == "completed"
    assert set(record.counts.values()) == {0}
    assert record.verification == dict.fromkeys(world.service.store_names, 0)


def test_a_completed_purge_delivered_again_changes_nothing(world: PurgeWorld) -> None:
    tenant = ids(1)[0]
    record = world.run_to_completion(requested(world, Scope("tenant", tenant)))
    entries = len(world.audit.of(tenant))
    world.run(record)
    assert world.ledger.get(tenant, record.id) == record
    assert len(world.audit.of(tenant)) == entries


def test_a_message_for_an_unknown_purge_is_a_no_op(world: PurgeWorld) -> None:
    run = world.service.run(str(uuid.uuid4()), str(uuid.uuid4()), world.clock)
    assert (run.record, run.actions) == (None, ())


def test_a_sweep_that_still_finds_data_unverifies_the_purge_until_zero_is_found_again(
    world: PurgeWorld,
) -> None:
    """Tried: a late write lands again right after the sweep deleted (a window still running). The deadlines
    are judged by the verification that finds zero, so the first verification's time must not stand."""
    tenant = ids(1)[0]
    world.seed(tenant, "u")
    record = requested(world, Scope("tenant", tenant))
    world.run(record)
    slices = world.live["slices"]
    delete = slices.delete_scope

    def deleted_then_written_again(scope: Scope) -> int:
        removed = delete(scope)
        slices.delete_scope = delete  # type: ignore[method-assign]
        slices.put(tenant, "u", 2)
        return removed

    slices.delete_scope = deleted_then_written_again  # type: ignore[method-assign]
    world.clock.advance(world.fence_delay)
    with pytest.raises(PurgeIncomplete):
        world.run(record)
    after = stored(world, record)
    assert (after.status, after.verified_at) == ("queued", None)
    assert deadline_outcomes(after, world.clock())[0] == "pending"

    world.clock.advance(timedelta(minutes=1))
    final = world.run_to_completion(after)
    assert (final.status, world.count(tenant)) == ("completed", 0)
    assert final.verified_at is not None
    assert final.verified_at > T0 + world.fence_delay  # the verification after the late write, not the first
