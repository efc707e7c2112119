"""A purge and the scope's change-notification subscriptions at Graph: live data is deleted and verified
whatever Graph does; Graph's side is removed when Graph lets us, retried until it does, and otherwise reported
as expired (never as verified) once no subscription of the scope can still deliver.

The world: the app's `subscriptions` table and Graph's subscription API in memory (Graph can be told to
refuse, as it does when it is down or the customer removed the app), notifications on, a clock the test moves.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from functions.domain.errors import GraphThrottled
from functions.domain.events import Provenance
from functions.domain.purge import GroupScope, PurgeReason, PurgeRecord, PurgeTarget, new_purge, purge_hold
from functions.domain.scope import Scope
from functions.domain.subscriptions import ChangeNotification, Subscription, client_state_hash
from functions.services.ports.purge import PurgeStores
from functions.services.subscription_purge import GraphSubscriptionRemoval
from functions.services.subscriptions import NOTIFICATION_PATH
from tests.support.container import app_settings, memory_container
from tests.support.memory_stores import MemoryAuditLog, MemoryPurgeLedger
from tests.support.purge_fakes import (
    Clock,
    MemoryScopedStore,
    MemorySubscriptionGraph,
    MemorySubscriptionStore,
    StaticMembers,
)

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
API = "https://consent-insights.example/api"
LIFETIME = timedelta(days=3)  # GRAPH_SUBSCRIPTION_MINUTES' default
FENCE = timedelta(minutes=12)
SECRET = "the-client-state"


class World:
    def __init__(self, *, notifications: bool = True, graph_budget: timedelta | None = None) -> None:
        self.clock = Clock(T0)
        self.tenant = str(uuid.uuid4())
        self.user, self.colleague = str(uuid.uuid4()), str(uuid.uuid4())
        self.slices, self.backups = MemoryScopedStore("slices"), MemoryScopedStore("backups")
        self.rows = MemorySubscriptionStore()
        self.graph = MemorySubscriptionGraph(API + NOTIFICATION_PATH)
        self.audit, self.ledger, self.members = MemoryAuditLog(), MemoryPurgeLedger(), StaticMembers()
        settings = (
            app_settings(GRAPH_NOTIFICATIONS="on", GRAPH_NOTIFICATION_URL=API)
            if notifications
            else app_settings()
        )
        self.container = c = memory_container(
            settings=settings, clock=self.clock, audit_log=self.audit, purge_store=self.ledger,
            member_resolver=self.members,
            purge_stores=PurgeStores((self.slices,), (self.backups,)),
            subscription_store=self.rows, subscription_graph_factory=lambda: self.graph,
            purge_completed=lambda _record, _at: False,
        )  # fmt: skip
        if graph_budget is not None:
            c.subscription_removal = GraphSubscriptionRemoval(
                self.rows, lambda: self.graph, c.notification_settings, budget=graph_budget
            )
        self.service, self.maintenance = c.purge_service, c.purge_maintenance
        for user in (self.user, self.colleague):
            self.slices.put(self.tenant, user, 100)
            self.backups.put(self.tenant, user, 2)

    def subscribe(self, user_id: str, expires_in: timedelta, *, recorded: bool = True) -> str:
        """A subscription of the user's mail at Graph (and, unless told otherwise, the app's row of it)."""
        expires = self.clock() + expires_in
        sub_id = self.graph.subscribe(self.tenant, user_id, "messages", expires)
        if recorded:
            self.rows.save(
                Subscription(
                    self.tenant,
                    user_id,
                    "messages",
                    sub_id,
                    client_state_hash(SECRET),
                    expires,
                    T0 - timedelta(days=1),
                )
            )
        return sub_id

    def request(self, scope: PurgeTarget, reason: PurgeReason = "consent-revoked") -> PurgeRecord:
        provenance = Provenance("admin", f"evt-{uuid.uuid4()}", self.clock(), "webhook", self.clock())
        return self.ledger.put(new_purge(scope, reason, provenance))

    def run(self, record: PurgeRecord) -> PurgeRecord:
        self.service.run(record.tenant_id, record.id, self.clock)
        return self.stored(record)

    def stored(self, record: PurgeRecord) -> PurgeRecord:
        found = self.ledger.get(record.tenant_id, record.id)
        assert found is not None
        return found

    def to_sweep(self, record: PurgeRecord) -> PurgeRecord:
        """The first pass, then the sweep once the fence has passed."""
        self.run(record)
        self.clock.advance(FENCE)
        return self.run(record)

    def audited(self, kind: str) -> list[tuple[str, str | None]]:
        return [(e.outcome, e.detail) for e in reversed(self.audit.of(self.tenant)) if e.kind == kind]


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def refused(world: World) -> World:
    """Two subscriptions of the user, and a Graph that refuses every subscription call."""
    world.subscribe(world.user, timedelta(hours=20))
    world.subscribe(world.user, timedelta(days=2))
    world.graph.refuse = {"list", "delete"}
    return world


def test_a_purge_deletes_and_verifies_live_data_while_graph_refuses_every_subscription_call(
    refused: World,
) -> None:
    """Tried: Graph answers every list and delete of subscriptions with our GraphError (the customer removed
    the app). Before, the purge raised at its first step on every delivery, and nothing was ever deleted."""
    record = refused.run(refused.request(Scope("tenant", refused.tenant)))
    assert record.status == "verified"
    assert (refused.slices.total(refused.tenant), refused.backups.total(refused.tenant)) == (0, 0)
    assert refused.rows.of_tenant(refused.tenant) == []
    assert record.verification == {"subscriptions": 0, "slices": 0, "backups": 0}
    assert record.deadline_flags == ()
    assert record.last_error is None


def test_the_refused_removal_is_a_step_of_the_record_and_audited_with_its_error_class_only(
    refused: World,
) -> None:
    record = refused.run(refused.request(Scope("tenant", refused.tenant)))
    failed = next(s for s in record.steps if s.name == "subscriptions-not-removed-at-graph")
    assert (failed.counts, failed.error) == ({"deleted": 0, "pending": 2}, "GraphError")
    [(outcome, detail)] = [a for a in refused.audited("purge.step") if a[0].startswith("subscriptions-")]
    assert outcome == "subscriptions-not-removed-at-graph"
    assert detail is not None
    assert "GraphError" in detail
    assert "AADSTS" not in detail
    assert [s.name for s in record.steps] == [
        "subscriptions-not-removed-at-graph",
        "live-deleted",
        "backups-deleted",
        "verified",
    ]


def test_the_record_says_graph_was_not_verified_and_when_the_subscriptions_stop_at_the_latest(
    refused: World,
) -> None:
    record = refused.run(refused.request(Scope("tenant", refused.tenant)))
    graph = record.graph_subscriptions
    assert graph is not None
    assert (graph.state, len(graph.pending), graph.last_error) == ("pending", 2, "GraphError")
    # Graph could not even be listed: a subscription the app lost track of may live until the fence plus a
    # subscription's lifetime, later than both recorded expiries.
    assert graph.stops_by == T0 + FENCE + LIFETIME
    assert not any("graph" in name.lower() for name in record.verification or {})


def test_after_the_sweep_a_purge_waits_for_graph_and_still_holds_its_scope(refused: World) -> None:
    record = refused.to_sweep(refused.request(Scope("tenant", refused.tenant)))
    assert record.status == "swept"
    assert record.completed_at is None
    assert record.verification == {"subscriptions": 0, "slices": 0, "backups": 0}
    assert [outcome for outcome, _ in refused.audited("purge.subscriptions-pending")] == ["waiting"]
    assert purge_hold(refused.ledger.unfinished_of(refused.tenant)).tenant


def test_a_delivery_before_the_retry_is_due_does_not_ask_graph_again(refused: World) -> None:
    record = refused.to_sweep(refused.request(Scope("tenant", refused.tenant)))
    calls = len(refused.graph.calls)
    refused.clock.advance(timedelta(minutes=5))
    assert refused.run(record).status == "swept"
    assert len(refused.graph.calls) == calls


def test_once_graph_answers_again_the_retry_removes_them_verifies_at_graph_and_completes(
    refused: World,
) -> None:
    record = refused.to_sweep(refused.request(Scope("tenant", refused.tenant)))
    refused.graph.refuse = set()
    refused.clock.advance(timedelta(hours=1))
    assert refused.maintenance.run(refused.clock())["requeued"] == 1
    done = refused.run(record)
    assert done.status == "completed"
    assert refused.graph.of(refused.tenant) == []
    graph = done.graph_subscriptions
    assert graph is not None
    assert (graph.state, graph.pending, graph.deleted) == ("removed", (), 2)
    assert done.steps[-1].name == "subscriptions-removed-at-graph"
    assert refused.audited("purge.completed")[0][0] == "verified-zero"


def test_the_maintenance_timer_leaves_a_waiting_purge_alone_until_its_retry_is_due(refused: World) -> None:
    refused.to_sweep(refused.request(Scope("tenant", refused.tenant)))
    refused.clock.advance(timedelta(minutes=15))
    assert refused.maintenance.run(refused.clock())["requeued"] == 0
    refused.clock.advance(timedelta(minutes=20))
    assert refused.maintenance.run(refused.clock())["requeued"] == 1


def test_if_graph_never_answers_the_purge_completes_once_no_subscription_can_deliver_and_says_unverified(
    refused: World,
) -> None:
    record = refused.to_sweep(refused.request(Scope("tenant", refused.tenant)))
    refused.clock.advance(LIFETIME - timedelta(minutes=1))
    assert refused.run(record).status == "swept"
    refused.clock.advance(timedelta(minutes=1))
    done = refused.run(record)
    assert done.status == "completed"
    graph = done.graph_subscriptions
    assert graph is not None
    assert (graph.state, len(graph.pending)) == ("expired", 2)
    assert done.steps[-1].name == "subscriptions-expired-at-graph"
    [(outcome, detail)] = refused.audited("purge.completed")
    assert outcome == "verified-zero-graph-unverified"
    assert detail is not None
    assert "not verified through Graph" in detail
    assert done.verification == {"subscriptions": 0, "slices": 0, "backups": 0}


def test_a_failure_after_graph_listed_them_waits_for_graphs_own_expiries_only(world: World) -> None:
    world.subscribe(world.user, timedelta(hours=20))
    lost = world.subscribe(world.user, timedelta(days=2), recorded=False)
    world.graph.refuse = {"delete"}
    world.graph.refusal = GraphThrottled("Graph answered 503 (retries exhausted)")
    record = world.run(world.request(Scope("user", world.tenant, user_id=world.user)))
    graph = record.graph_subscriptions
    assert graph is not None
    assert lost in {p.subscription_id for p in graph.pending}
    assert (graph.stops_by, graph.last_error) == (T0 + timedelta(days=2), "GraphThrottled")


def test_a_graph_that_hangs_gets_its_time_budget_and_the_stored_data_is_deleted_all_the_same() -> None:
    world = World(graph_budget=timedelta(milliseconds=200))
    world.subscribe(world.user, timedelta(days=1))
    world.graph.delay = 30.0
    record = world.run(world.request(Scope("tenant", world.tenant)))
    assert record.status == "verified"
    assert world.slices.total(world.tenant) == 0
    graph = record.graph_subscriptions
    assert graph is not None
    assert (graph.state, len(graph.pending), graph.last_error) == ("pending", 1, "TimeoutError")


def test_with_graph_reachable_a_users_subscriptions_are_removed_and_verified_at_graph_and_no_one_elses(
    world: World,
) -> None:
    world.subscribe(world.user, timedelta(days=1))
    world.subscribe(world.user, timedelta(days=1), recorded=False)
    kept = world.subscribe(world.colleague, timedelta(days=1))
    record = world.to_sweep(world.request(Scope("user", world.tenant, user_id=world.user)))
    assert record.status == "completed"
    assert [s.subscription_id for s in world.graph.of(world.tenant)] == [kept]
    assert [s.subscription_id for s in world.rows.of_tenant(world.tenant)] == [kept]
    graph = record.graph_subscriptions
    assert graph is not None
    assert (graph.state, graph.deleted) == ("removed", 2)
    assert record.counts["subscriptions"] == 1
    assert world.slices.total(world.tenant) == 100


def test_a_group_purge_removes_its_members_subscriptions_listing_graph_once_and_once_more_to_verify(
    world: World,
) -> None:
    member, other_member = world.user, str(uuid.uuid4())
    world.subscribe(member, timedelta(days=1))
    world.subscribe(other_member, timedelta(days=1), recorded=False)
    kept = world.subscribe(world.colleague, timedelta(days=1))
    group = str(uuid.uuid4())
    world.members.groups[(world.tenant, group)] = {member, other_member}
    record = world.run(world.request(GroupScope(world.tenant, frozenset({group})), "group-opt-out"))
    assert [s.subscription_id for s in world.graph.of(world.tenant)] == [kept]
    assert [s.subscription_id for s in world.rows.of_tenant(world.tenant)] == [kept]
    assert world.graph.calls.count("list") == 2
    assert record.graph_subscriptions is not None
    assert (record.graph_subscriptions.state, record.graph_subscriptions.deleted) == ("removed", 2)


def test_with_notifications_off_and_none_recorded_graph_is_never_asked() -> None:
    world = World(notifications=False)
    record = world.to_sweep(world.request(Scope("tenant", world.tenant)))
    assert record.status == "completed"
    assert world.graph.calls == []
    assert record.graph_subscriptions is None
    assert [s.name for s in record.steps] == [
        "live-deleted",
        "backups-deleted",
        "verified",
        "swept",
        "sweep-verified",
    ]


def test_a_notification_graph_still_delivers_after_the_purge_requests_no_refresh(refused: World) -> None:
    sub = refused.graph.of(refused.tenant)[0]
    record = refused.to_sweep(refused.request(Scope("tenant", refused.tenant)))
    assert record.status == "swept"
    note = ChangeNotification(sub.subscription_id, refused.tenant, SECRET, "created", refused.user)
    result = refused.container.subscription_service.notified([note], refused.clock())
    assert (result.refreshes_requested, result.rejected) == (0, 1)
