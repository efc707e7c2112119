"""The daily backup and the restore over in-memory ports, fed by a real scheduling run and the ingestion
worker (tests/support/container.py `IngestionWorld`): one blob per included user and day holding exactly
that user's interactions, and nothing of anyone excluded copied out or put back. The backup's Blob adapter
is tested on Azurite (tests/integration/test_ingestion.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from functions.domain.interactions import Interaction
from tests.support.container import IngestionWorld
from tests.support.memory_ingestion import meeting, message

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
DAY = T0.date()
CUSTOMERS = ("buyer@fabrikam.example", "cto@fabrikam.example", "ops@northwind.example")


def ingested(world: IngestionWorld) -> IngestionWorld:
    """User i received i + 1 messages and organised one meeting with a customer: i + 2 interactions."""
    world.grant()
    for index, user in enumerate(world.users):
        own = world.address(user)
        mail = [
            message(user, CUSTOMERS[n % 3], [own], T0 - timedelta(days=3 + n)) for n in range(index + 1)
        ]  # fmt: skip
        world.deliver(user, *mail, meeting(user, own, [CUSTOMERS[index % 3]], T0 - timedelta(days=2)))
    assert set(world.drain(world.schedule())) == {"succeeded"}
    return world


def slice_of(world: IngestionWorld, user: str) -> set[Interaction]:
    return set(world.slices.interactions(world.tenant_id, user))


def blob(world: IngestionWorld, user: str) -> str:
    return f"{world.tenant_id}/{user}/{DAY.isoformat()}.jsonl"


def lose_live_data(world: IngestionWorld) -> None:
    """What a restore is for: the slices and the contact index are gone."""
    world.slices.rows.clear()
    world.contacts.rows.clear()


@pytest.fixture
def world() -> IngestionWorld:
    return ingested(IngestionWorld(T0, users=3))


# --- the backup ---------------------------------------------------------------------------------------------


def test_the_backup_writes_one_blob_per_included_user_for_the_day(world: IngestionWorld) -> None:
    result = world.backup.back_up_tenant(world.tenant_id, T0)
    assert world.backups.names(f"{world.tenant_id}/") == sorted(blob(world, u) for u in world.users)
    assert result is not None
    assert (result.users, result.records, result.taken_back) == (3, 2 + 3 + 4, 0)


def test_each_blob_holds_exactly_the_users_own_interactions(world: IngestionWorld) -> None:
    world.backup.back_up_tenant(world.tenant_id, T0)
    for user in world.users:
        backed_up = world.backups.read(world.tenant_id, user, DAY)
        assert len(backed_up) == len(slice_of(world, user))
        assert set(backed_up) == slice_of(world, user)


def test_a_user_who_opted_out_since_ingestion_is_not_copied_at_all(world: IngestionWorld) -> None:
    out, *others = world.users
    world.opt_out(out)
    result = world.backup.back_up_tenant(world.tenant_id, T0)
    assert world.backups.written == sorted(blob(world, u) for u in others)
    assert result is not None
    assert (result.users, result.records) == (2, 3 + 4)


def test_a_member_of_an_opted_out_group_is_not_copied(world: IngestionWorld) -> None:
    member = world.users[1]
    world.opt_out_groups(world.group([member]))
    world.resolve_membership()
    world.backup.back_up_tenant(world.tenant_id, T0)
    assert blob(world, member) not in world.backups.written
    assert len(world.backups.written) == 2


def test_nobody_is_copied_while_group_membership_is_unknown(world: IngestionWorld) -> None:
    world.opt_out_groups(world.group([world.users[0]]))
    result = world.backup.back_up_tenant(world.tenant_id, T0)
    assert world.backups.written == []
    assert result is not None
    assert result.users == 0


def test_a_tenant_that_withdrew_is_not_backed_up(world: IngestionWorld) -> None:
    world.revoke()
    assert world.backup.back_up_tenant(world.tenant_id, T0) is None
    assert world.backups.written == []


def test_a_user_with_nothing_ingested_gets_no_empty_blob() -> None:
    world = IngestionWorld(T0, users=2)
    world.grant()
    world.drain(world.schedule())  # both included, both mailboxes empty
    world.backup.back_up_tenant(world.tenant_id, T0)
    assert world.backups.written == []


# --- the restore --------------------------------------------------------------------------------------------


def test_a_restore_puts_back_each_included_users_slice_and_index_rows(world: IngestionWorld) -> None:
    before = {u: slice_of(world, u) for u in world.users}
    index_before = {k: dict(v) for k, v in world.contacts.rows.items()}
    world.backup.back_up_tenant(world.tenant_id, T0)
    lose_live_data(world)
    report = world.restore.restore(world.tenant_id, DAY, T0 + timedelta(hours=1))
    assert {u: slice_of(world, u) for u in world.users} == before
    assert world.contacts.rows == index_before
    assert (report.users, report.records, report.skipped, report.reapplied) == (3, 2 + 3 + 4, 0, ())


def test_a_restore_skips_a_user_who_opted_out_since_the_backup(world: IngestionWorld) -> None:
    out, *others = world.users
    world.backup.back_up_tenant(world.tenant_id, T0)
    world.opt_out(out)
    lose_live_data(world)
    report = world.restore.restore(world.tenant_id, DAY, T0 + timedelta(hours=1))
    assert {user for _, user, run in world.slices.writes if run == "restore"} == set(others)
    assert slice_of(world, out) == set()
    indexed = {i.user_id for partition in world.contacts.rows.values() for i in partition.values()}
    assert indexed == set(others)
    assert (report.users, report.skipped, len(report.reapplied)) == (2, 1, 1)  # the opt-out's purge, again


def test_a_restore_skips_a_member_of_a_group_opted_out_since_the_backup(world: IngestionWorld) -> None:
    member = world.users[2]
    world.backup.back_up_tenant(world.tenant_id, T0)
    world.opt_out_groups(world.group([member]))
    world.resolve_membership()
    lose_live_data(world)
    report = world.restore.restore(world.tenant_id, DAY, T0 + timedelta(hours=1))
    assert slice_of(world, member) == set()
    assert {user for _, user, run in world.slices.writes if run == "restore"} == set(world.users[:2])
    assert (report.users, report.skipped) == (2, 1)
