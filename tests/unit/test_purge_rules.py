"""The purge record's rules: the next step, the scopes a purge covers, the deadlines it flags."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from functions.domain.events import Provenance
from functions.domain.purge import (
    GroupScope,
    PurgeRecord,
    deadline_flags,
    new_purge,
    next_action,
    user_scopes,
)
from functions.domain.scope import Scope

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TENANT = str(uuid.uuid4())


def purge(scope: Scope | GroupScope | None = None) -> PurgeRecord:
    provenance = Provenance("admin", f"evt-{uuid.uuid4()}", T0, "webhook", T0)
    return new_purge(scope or Scope("tenant", TENANT), "consent-revoked", provenance)


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("queued", "delete-live"),
        ("live-deleted", "delete-backups"),
        ("backups-deleted", "verify"),
        ("completed", "done"),
    ],
)
def test_each_status_leads_to_the_next_step(status: str, action: str) -> None:
    assert next_action(replace(purge(), status=status), T0) == action


def test_a_verified_purge_waits_for_its_fence_then_sweeps() -> None:
    record = replace(purge(), status="verified", fence_at=T0 + timedelta(minutes=12))
    assert next_action(record, T0 + timedelta(minutes=11)) == "wait-for-fence"
    assert next_action(record, T0 + timedelta(minutes=12)) == "sweep"


def test_a_group_purge_resolves_its_members_before_deleting_anything() -> None:
    record = purge(GroupScope(TENANT, frozenset({"g1"})))
    assert next_action(record, T0) == "resolve-members"
    assert next_action(replace(record, members=()), T0) == "delete-live"


def test_a_group_purge_covers_each_resolved_member_as_a_user_scope() -> None:
    record = replace(purge(GroupScope(TENANT, frozenset({"g1"}))), members=("u1", "u2"))
    assert user_scopes(record) == [
        Scope("user", TENANT, user_id="u1"),
        Scope("user", TENANT, user_id="u2"),
    ]


def test_a_tenant_or_user_purge_covers_its_own_scope() -> None:
    scope = Scope("user", TENANT, user_id="u1")
    assert user_scopes(purge(scope)) == [scope]


def test_a_fresh_purge_carries_no_deadline_flag() -> None:
    assert deadline_flags(purge(), T0 + timedelta(hours=1)) == ()


def test_a_purge_unverified_four_hours_before_its_live_deadline_is_flagged_near() -> None:
    assert deadline_flags(purge(), T0 + timedelta(hours=20)) == ("live-deadline-near",)


def test_a_purge_unverified_after_its_live_deadline_is_flagged_passed() -> None:
    assert deadline_flags(purge(), T0 + timedelta(hours=25)) == ("live-deadline-passed",)


def test_a_purge_verified_in_time_is_not_flagged_even_much_later() -> None:
    record = replace(
        purge(), verified_at=T0 + timedelta(minutes=3), backups_deleted_at=T0 + timedelta(minutes=2)
    )
    assert deadline_flags(record, T0 + timedelta(days=40)) == ()


def test_a_purge_verified_late_stays_flagged_as_having_missed_its_deadline() -> None:
    record = replace(
        purge(), verified_at=T0 + timedelta(hours=30), backups_deleted_at=T0 + timedelta(hours=29)
    )
    assert deadline_flags(record, T0 + timedelta(days=40)) == ("live-deadline-passed",)


def test_backups_not_deleted_near_thirty_days_are_flagged() -> None:
    record = replace(purge(), verified_at=T0 + timedelta(minutes=3))
    assert deadline_flags(record, T0 + timedelta(days=28)) == ("backup-deadline-near",)
    assert deadline_flags(record, T0 + timedelta(days=31)) == ("backup-deadline-passed",)


def test_a_record_held_by_another_delivery_is_leased_until_the_lease_ends() -> None:
    record = replace(purge(), lease_owner="a", lease_until=T0 + timedelta(minutes=10))
    assert record.leased_to_other("b", T0)
    assert not record.leased_to_other("a", T0)
    assert not record.leased_to_other("b", T0 + timedelta(minutes=10))
