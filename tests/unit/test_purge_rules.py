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
from functions.domain.purge_subscriptions import (
    SUBSCRIPTION_RETRY,
    PendingSubscription,
    SubscriptionAttempt,
    subscriptions_after,
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


def test_a_purge_counts_its_deadlines_from_the_request_unless_told_an_earlier_instant() -> None:
    provenance = Provenance(None, f"evt-{uuid.uuid4()}", T0, "timer", T0 + timedelta(days=3))
    asked = new_purge(Scope("tenant", TENANT), "legacy-expired", provenance)
    owed = new_purge(Scope("tenant", TENANT), "legacy-expired", provenance, deadlines_from=T0)
    assert (asked.live_deadline, asked.backup_deadline) == (
        T0 + timedelta(days=3, hours=24),
        T0 + timedelta(days=33),
    )
    assert (owed.requested_at, owed.live_deadline, owed.backup_deadline) == (
        T0 + timedelta(days=3),
        T0 + timedelta(hours=24),
        T0 + timedelta(days=30),
    )
    assert owed.id == asked.id  # the same request, whatever its deadlines


def test_deadlines_never_run_from_after_the_request() -> None:
    provenance = Provenance(None, f"evt-{uuid.uuid4()}", T0, "timer", T0)
    record = new_purge(
        Scope("tenant", TENANT), "legacy-expired", provenance, deadlines_from=T0 + timedelta(days=1)
    )
    assert record.live_deadline == T0 + timedelta(hours=24)


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


# --- the scope's subscriptions at Graph ---------------------------------------------------------------------

LIFETIME_END = T0 + timedelta(days=3, minutes=12)  # the fence plus a subscription's lifetime


def attempt(*expiries: datetime, listed: bool = False, verified: bool = False) -> SubscriptionAttempt:
    remaining = tuple(PendingSubscription(str(uuid.uuid4()), at) for at in expiries)
    return SubscriptionAttempt(0, remaining, listed, verified, None if verified else "GraphError")


def test_a_purge_swept_while_graph_refused_asks_again_after_the_retry_interval() -> None:
    graph = subscriptions_after(None, attempt(T0 + timedelta(days=1)), T0, LIFETIME_END)
    record = replace(purge(), status="swept", graph_subscriptions=graph)
    assert next_action(record, T0 + SUBSCRIPTION_RETRY - timedelta(seconds=1)) == "wait-for-subscriptions"
    assert next_action(record, T0 + SUBSCRIPTION_RETRY) == "remove-subscriptions"


def test_graph_not_listed_leaves_room_for_subscriptions_the_app_lost_track_of() -> None:
    graph = subscriptions_after(None, attempt(T0 + timedelta(days=1)), T0, LIFETIME_END)
    assert (graph.state, graph.stops_by) == ("pending", LIFETIME_END)


def test_graph_listed_but_refusing_to_delete_stops_with_the_latest_expiry_it_listed() -> None:
    graph = subscriptions_after(
        None, attempt(T0 + timedelta(hours=5), T0 + timedelta(days=1), listed=True), T0, LIFETIME_END
    )
    assert graph.stops_by == T0 + timedelta(days=1)


def test_the_last_retry_is_no_later_than_when_the_subscriptions_stop() -> None:
    graph = subscriptions_after(None, attempt(T0 + timedelta(minutes=10), listed=True), T0, LIFETIME_END)
    assert graph.retry_at == T0 + timedelta(minutes=10)


def test_an_attempt_after_every_subscription_stopped_settles_as_expired_not_removed() -> None:
    first = subscriptions_after(None, attempt(T0 + timedelta(days=1), listed=True), T0, LIFETIME_END)
    later = subscriptions_after(
        first, attempt(T0 + timedelta(days=1), listed=True), T0 + timedelta(days=1), LIFETIME_END
    )
    assert (later.state, later.settled, later.attempts) == ("expired", True, 2)


def test_graph_confirming_forgets_what_an_earlier_attempt_left() -> None:
    first = subscriptions_after(None, attempt(T0 + timedelta(days=1)), T0, LIFETIME_END)
    removed = subscriptions_after(
        first, SubscriptionAttempt(1, (), listed=True, verified=True), T0 + SUBSCRIPTION_RETRY, LIFETIME_END
    )
    assert (removed.state, removed.pending, removed.stops_by, removed.deleted) == ("removed", (), None, 1)
