"""Change notifications end to end: the app's container on Azurite and an embedded Graph simulator, with a
loopback receiver standing in for the app's public endpoint (it answers Graph's validation handshake).

Queue messages are recorded instead of sent (the request claims still live in Azurite), so a local host on the
shared Azurite never picks up a test's work."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.adapters.queues import StorageWorkQueues
from functions.adapters.storage import StorageClients
from functions.bootstrap import Container
from functions.domain.audit import AuditEntry
from functions.domain.inclusion import Fence, TenantInclusion
from functions.domain.ingestion import UserProfile
from functions.domain.purge import PurgeRecord, new_purge
from functions.domain.purge_subscriptions import SubscriptionAttempt
from functions.domain.scope import Scope
from functions.domain.subscriptions import (
    ChangeNotification,
    LifecycleNotification,
    Subscription,
    client_state_hash,
    parse_change_notifications,
)
from functions.services.consent import api_provenance
from functions.services.inclusion import InclusionReader
from functions.services.ports.subscriptions import SubscriptionStore
from functions.services.subscription_purge import SubscriptionRows
from functions.services.subscriptions import SubscriptionService, SyncResult
from functions.settings import Settings
from graphsim.generate import TenantSpec
from graphsim.model import User
from graphsim.server import GraphSimulator
from graphsim.tenant import Tenant
from tests.conftest import base_env
from tests.support.notification_receiver import Receiver
from tests.support.purge_data import ZERO, Seeder, tenant_traces
from tests.support.purge_fakes import Clock
from tests.support.purge_rig import FENCE_DELAY

pytestmark = pytest.mark.integration

COALESCE_SECONDS = 10


class RecordingQueues(StorageWorkQueues):
    """The real work queues (claims in Azurite's `requests` table), with messages recorded, not sent."""

    def __init__(self, storage: StorageClients) -> None:
        super().__init__(storage)
        self.sent: list[dict[str, Any]] = []

    def send(self, queue: str, message: Mapping[str, Any], *, delay_seconds: int = 0) -> None:
        self.sent.append({"queue": queue, "delay": delay_seconds, **message})

    def refreshes(self) -> list[dict[str, Any]]:
        return [m for m in self.sent if m.get("type") == "user.refresh"]


@dataclass
class World:
    sim: GraphSimulator
    receiver: Receiver
    container: Container
    queues: RecordingQueues
    tenant_id: str

    @property
    def service(self) -> SubscriptionService:
        return self.container.subscription_service

    @property
    def store(self) -> SubscriptionStore:
        return self.container.subscription_store

    @property
    def rows(self) -> SubscriptionRows:
        """The purge's store `subscriptions`: the app's rows."""
        [found] = [s for s in self.container.purge_stores.first if isinstance(s, SubscriptionRows)]
        return found

    def remove_at_graph(self, scope: Scope) -> SubscriptionAttempt:
        """One attempt of the purge's removal at Graph, as a purge of `scope` makes it."""
        removal = self.container.subscription_removal
        assert removal is not None
        attempt = removal.remove(self.tenant_id, [scope], ())
        assert attempt is not None
        return attempt

    def request_purge(self, scope: Scope) -> PurgeRecord:
        record, _ = self.container.purge_store.create(
            new_purge(scope, "consent-revoked", api_provenance(None, self.now()))
        )
        return record

    def run_purge(self, record: PurgeRecord, clock: Clock) -> PurgeRecord:
        self.container.purge_service.run(record.tenant_id, record.id, clock)
        stored = self.container.purge_store.get(record.tenant_id, record.id)
        assert stored is not None
        return stored

    def now(self) -> datetime:
        # Graph checks expiry against its own clock: the service's `now` is the real one.
        return datetime.now(UTC)

    def mailboxes(self) -> list[User]:
        return [u for u in self.sim.tenant.users() if u.mail]

    def without_mailbox(self) -> list[User]:
        return [u for u in self.sim.tenant.users() if not u.mail]

    def grant(self) -> None:
        self.container.consent_service.grant(self.tenant_id, frozenset(), api_provenance(None, self.now()))

    def opt_out(self, user_id: str) -> None:
        provenance = api_provenance(None, self.now())
        self.container.optout_service.set_user(self.tenant_id, user_id, opted_out=True, provenance=provenance)

    def sync(self) -> SyncResult:
        return self.service.sync_tenant(self.tenant_id, self.now())

    def at_graph(self, user_id: str | None = None) -> list[Any]:
        """Graph's subscriptions (of one user's resources, when given)."""
        return [s for s in self.sim.subscriptions.active() if user_id is None or s.mailbox == user_id.lower()]

    def secret_of(self, sub: Subscription) -> str:
        """The clientState Graph holds (and sends back in each notification); the app keeps only its hash."""
        secret = self.sim.subscriptions.get(sub.subscription_id).client_state
        assert secret is not None
        return secret

    def note(
        self, sub: Subscription, client_state: str | None, user_id: str | None = None
    ) -> ChangeNotification:
        return ChangeNotification(
            sub.subscription_id, self.tenant_id, client_state, "created", user_id or sub.user_id
        )

    def audit(self, kind: str) -> list[AuditEntry]:
        return [e for e in self.container.audit_log.page(self.tenant_id, 200, None).entries if e.kind == kind]


@pytest.fixture
def world(storage_clients: StorageClients, storage_connection_string: str, tenant_id: str) -> Iterator[World]:
    spec = TenantSpec(
        seed=21, users=4, external_contacts=10, months=1, messages_per_user_per_month=2,
        users_without_mailbox=1, tenant_id=tenant_id,
    )  # fmt: skip
    with GraphSimulator(Tenant(spec)) as sim, Receiver() as receiver:
        env = base_env(
            storage_connection_string, GRAPH_BASE_URL=sim.graph_url, GRAPH_STATIC_TOKEN=sim.token,
            GRAPH_NOTIFICATIONS="on", GRAPH_NOTIFICATION_URL=receiver.base_url,
            REFRESH_COALESCE_SECONDS=str(COALESCE_SECONDS),
        )  # fmt: skip
        queues = RecordingQueues(storage_clients)
        container = Container(Settings.from_env(env), storage=storage_clients, work_queues=queues)
        seen = datetime.now(UTC)
        container.cursor_store.save_profiles(
            UserProfile(
                tenant_id,
                u.id.lower(),
                u.display_name,
                u.mail or "",
                u.user_principal_name,
                present=True,
                seen_at=seen,
            )
            for u in sim.tenant.users()
        )
        yield World(sim, receiver, container, queues, tenant_id)


@pytest.fixture
def synced(world: World) -> World:
    """A consented tenant whose included users with a mailbox have their subscriptions."""
    world.grant()
    world.sync()
    return world


def subs_of(world: World, user: User) -> list[Subscription]:
    return world.store.of_user(world.tenant_id, user.id)


# --- keeping the subscriptions ------------------------------------------------------------------------------


def test_without_consent_nothing_is_subscribed(world: World) -> None:
    assert world.sync().created == 0
    assert world.at_graph() == []
    assert world.store.of_tenant(world.tenant_id) == []


def test_each_included_user_with_a_mailbox_gets_a_subscription_per_kind(world: World) -> None:
    world.grant()
    result = world.sync()
    mailboxes = world.mailboxes()
    assert result.created == 2 * len(mailboxes)
    for user in mailboxes:
        assert sorted(s.kind for s in subs_of(world, user)) == ["events", "messages"]
        assert sorted(s.collection for s in world.at_graph(user.id)) == ["events", "messages"]
    assert {s.subscription_id for s in world.store.of_tenant(world.tenant_id)} == {
        s.id for s in world.at_graph()
    }


def test_a_user_without_a_mailbox_gets_none(synced: World) -> None:
    [nobox] = synced.without_mailbox()
    assert subs_of(synced, nobox) == []
    assert synced.at_graph(nobox.id) == []


def test_graph_is_asked_for_basic_notifications_to_the_apps_routes(synced: World) -> None:
    base = synced.receiver.base_url
    for sub in synced.at_graph():
        assert (sub.notification_url, sub.lifecycle_url) == (
            f"{base}/graph/notifications",
            f"{base}/graph/lifecycle",
        )
        assert sub.change_type == "created,updated,deleted"


def test_the_store_holds_the_sha256_of_each_secret_and_never_the_secret(synced: World) -> None:
    rows = list(synced.container.storage.table("subscriptions").query_entities(
        "PartitionKey eq @pk", parameters={"pk": synced.tenant_id}
    ))  # fmt: skip
    assert len(rows) == 2 * len(synced.mailboxes())
    secrets = {s.id: s.client_state for s in synced.at_graph()}
    assert len(set(secrets.values())) == len(secrets)  # a secret of its own per subscription
    for row in rows:
        secret = secrets[row["subscriptionId"]]
        assert secret
        assert row["clientStateSha256"] == client_state_hash(secret)
        assert all(secret not in str(value) for value in row.values())


def test_a_second_sync_changes_nothing(synced: World) -> None:
    before = {s.id for s in synced.at_graph()}
    result = synced.sync()
    assert (result.created, result.renewed, result.deleted) == (0, 0, 0)
    assert {s.id for s in synced.at_graph()} == before


def test_an_opted_out_user_gets_no_subscription(world: World) -> None:
    user = world.mailboxes()[0]
    world.grant()
    world.opt_out(user.id)
    world.sync()
    assert subs_of(world, user) == []
    assert world.at_graph(user.id) == []
    assert all(subs_of(world, other) for other in world.mailboxes()[1:])


def test_a_user_opting_out_loses_their_subscriptions_on_the_next_sync(synced: World) -> None:
    user, other = synced.mailboxes()[:2]
    assert synced.at_graph(user.id)
    synced.opt_out(user.id)
    result = synced.sync()
    assert result.deleted == 2
    assert subs_of(synced, user) == []
    assert synced.at_graph(user.id) == []
    assert len(subs_of(synced, other)) == 2


def test_a_subscription_graph_lost_is_made_again(synced: World) -> None:
    user = synced.mailboxes()[0]
    lost = subs_of(synced, user)[0]
    synced.sim.subscriptions.delete(lost.subscription_id)
    result = synced.sync()
    assert (result.deleted, result.created) == (1, 1)
    assert synced.store.get(synced.tenant_id, lost.subscription_id) is None
    assert sorted(s.collection for s in synced.at_graph(user.id)) == ["events", "messages"]


# --- notifications ------------------------------------------------------------------------------------------


def test_a_notification_with_the_right_secret_requests_one_delayed_refresh_of_its_user(synced: World) -> None:
    user = synced.mailboxes()[0]
    sub = subs_of(synced, user)[0]
    result = synced.service.notified([synced.note(sub, synced.secret_of(sub))], synced.now())
    assert (result.refreshes_requested, result.rejected, result.dropped) == (1, 0, 0)
    [refresh] = synced.queues.refreshes()
    assert (refresh["queue"], refresh["tenantId"], refresh["userId"]) == (
        "refresh",
        synced.tenant_id,
        user.id.lower(),
    )
    assert refresh["delay"] == COALESCE_SECONDS


def test_a_second_notification_within_the_window_sends_no_second_refresh(synced: World) -> None:
    sub = subs_of(synced, synced.mailboxes()[0])[0]
    note = synced.note(sub, synced.secret_of(sub))
    synced.service.notified([note], synced.now())
    again = synced.service.notified([note], synced.now())
    assert (again.refreshes_requested, again.coalesced) == (0, 1)
    assert len(synced.queues.refreshes()) == 1


def test_a_burst_for_one_user_across_both_subscriptions_is_one_refresh(synced: World) -> None:
    messages, events = subs_of(synced, synced.mailboxes()[0])
    notes = [synced.note(s, synced.secret_of(s)) for s in (messages, events, messages)]
    result = synced.service.notified(notes, synced.now())
    assert (result.refreshes_requested, result.coalesced) == (1, 2)
    assert len(synced.queues.refreshes()) == 1


def test_a_batch_reads_each_subscription_it_names_once(
    synced: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages, events = subs_of(synced, synced.mailboxes()[0])
    notes = [synced.note(s, synced.secret_of(s)) for s in (messages, messages, events, messages, events)]
    reads: list[str] = []
    read = synced.store.get

    def counted(tenant_id: str, subscription_id: str) -> Subscription | None:
        reads.append(subscription_id)
        return read(tenant_id, subscription_id)

    monkeypatch.setattr(synced.store, "get", counted)
    result = synced.service.notified(notes, synced.now())
    assert sorted(reads) == sorted([messages.subscription_id, events.subscription_id])
    assert (result.refreshes_requested, result.coalesced) == (1, 4)


def test_once_the_refresh_is_taken_a_new_notification_requests_another(synced: World) -> None:
    user = synced.mailboxes()[0]
    sub = subs_of(synced, user)[0]
    note = synced.note(sub, synced.secret_of(sub))
    synced.service.notified([note], synced.now())
    synced.queues.refresh_taken(synced.tenant_id, user.id.lower())
    assert synced.service.notified([note], synced.now()).refreshes_requested == 1
    assert len(synced.queues.refreshes()) == 2


def test_a_notification_graph_delivered_is_believed(synced: World) -> None:
    user = synced.mailboxes()[0]
    request = urllib.request.Request(  # noqa: S310  (loopback)
        f"{synced.sim.url}/_sim/mail",
        data=json.dumps({"from": "pat@fabrikam.com", "to": [user.mail]}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
        assert json.loads(response.read())["notified"] == 1
    assert synced.sim.subscriptions.outbox.wait_idle()
    [post] = synced.receiver.posts
    assert post.path == "/api/graph/notifications"
    notes = parse_change_notifications(post.json())
    assert synced.service.notified(notes, synced.now()).refreshes_requested == 1
    assert [m["userId"] for m in synced.queues.refreshes()] == [user.id.lower()]


def test_a_wrong_secret_is_rejected_audited_and_refreshes_nothing(synced: World) -> None:
    sub = subs_of(synced, synced.mailboxes()[0])[0]
    result = synced.service.notified([synced.note(sub, "not-the-secret")], synced.now())
    assert (result.rejected, result.refreshes_requested) == (1, 0)
    assert synced.queues.refreshes() == []
    [entry] = synced.audit("notification.rejected")
    assert entry.outcome == "client-state-mismatch"
    assert entry.counts == {"notifications": 1}


@pytest.mark.parametrize("client_state", [None, ""])
def test_a_notification_without_a_secret_is_rejected(synced: World, client_state: str | None) -> None:
    sub = subs_of(synced, synced.mailboxes()[0])[0]
    assert synced.service.notified([synced.note(sub, client_state)], synced.now()).rejected == 1
    assert synced.queues.refreshes() == []


def test_a_notification_naming_another_user_than_its_subscription_is_rejected(synced: World) -> None:
    mine, other = synced.mailboxes()[:2]
    sub = subs_of(synced, mine)[0]
    result = synced.service.notified(
        [synced.note(sub, synced.secret_of(sub), user_id=other.id.lower())], synced.now()
    )
    assert (result.rejected, result.refreshes_requested) == (1, 0)
    assert synced.queues.refreshes() == []


def test_a_notification_of_an_unknown_subscription_is_rejected_quietly(synced: World) -> None:
    note = ChangeNotification("00000000-0000-4000-8000-000000000000", synced.tenant_id, "x", "created", None)
    assert synced.service.notified([note], synced.now()).rejected == 1
    assert synced.queues.refreshes() == []


def test_a_notification_for_an_excluded_user_is_dropped_and_audited(synced: World) -> None:
    user = synced.mailboxes()[0]
    sub = subs_of(synced, user)[0]
    synced.opt_out(user.id)
    result = synced.service.notified([synced.note(sub, synced.secret_of(sub))], synced.now())
    assert (result.dropped, result.refreshes_requested) == (1, 0)
    assert synced.queues.refreshes() == []
    [entry] = synced.audit("notification.dropped")
    assert entry.subject_ids == (user.id.lower(),)
    assert entry.outcome
    assert entry.counts == {"notifications": 1}


# --- the purge ----------------------------------------------------------------------------------------------


def test_the_purge_deletes_a_subscription_graph_has_even_without_the_apps_row(synced: World) -> None:
    user = synced.mailboxes()[0]
    forgotten, _ = subs_of(synced, user)
    synced.store.delete(synced.tenant_id, forgotten.subscription_id)
    attempt = synced.remove_at_graph(Scope("user", synced.tenant_id, user_id=user.id))
    assert (attempt.deleted, attempt.verified) == (2, True)
    assert synced.at_graph(user.id) == []


def test_the_purge_finds_none_once_graph_and_the_store_have_none(world: World) -> None:
    world.grant()
    scope = Scope("tenant", world.tenant_id)
    attempt = world.remove_at_graph(scope)
    assert (attempt.deleted, attempt.remaining, attempt.verified) == (0, (), True)
    assert world.rows.count_scope(scope) == 0


def test_purging_a_user_leaves_none_at_graph_nor_in_the_store(synced: World) -> None:
    user, other = synced.mailboxes()[:2]
    forgotten, _ = subs_of(synced, user)
    synced.store.delete(synced.tenant_id, forgotten.subscription_id)
    scope = Scope("user", synced.tenant_id, user_id=user.id)
    assert synced.remove_at_graph(scope).deleted == 2
    assert synced.rows.delete_scope(scope) == 1
    assert synced.at_graph(user.id) == []
    assert subs_of(synced, user) == []
    assert synced.rows.count_scope(scope) == 0
    assert len(synced.at_graph(other.id)) == 2
    assert len(subs_of(synced, other)) == 2


def test_purging_the_tenant_leaves_none_at_graph_nor_in_the_store(synced: World) -> None:
    scope = Scope("tenant", synced.tenant_id)
    attempt = synced.remove_at_graph(scope)
    assert (attempt.deleted, attempt.verified) == (2 * len(synced.mailboxes()), True)
    assert synced.rows.delete_scope(scope) == 2 * len(synced.mailboxes())
    assert synced.at_graph() == []
    assert synced.store.of_tenant(synced.tenant_id) == []
    assert synced.rows.count_scope(scope) == 0


def test_a_purge_while_graph_is_down_deletes_and_verifies_stored_data_and_removes_the_subscriptions_later(
    synced: World, storage_clients: StorageClients
) -> None:
    """Tried: Graph answers every request 503 (down) while a withdrawal is purged. Before, the purge raised
    at its subscriptions step on every delivery and never deleted the stored data."""
    Seeder(storage_clients).user(synced.tenant_id, synced.mailboxes()[0].id.lower(), 6)
    held = {s.id for s in synced.at_graph()}
    clock = Clock(synced.now())
    record = synced.request_purge(Scope("tenant", synced.tenant_id))
    synced.sim.faults.update(unavailable_next=1_000_000, retry_after=1)
    first = synced.run_purge(record, clock)
    assert first.status == "verified"
    assert tenant_traces(storage_clients, synced.tenant_id) == ZERO
    assert first.verification == ZERO
    graph = first.graph_subscriptions
    assert graph is not None
    assert (graph.state, graph.last_error) == ("pending", "GraphThrottled (Graph 503 ServiceUnavailable)")
    assert {p.subscription_id for p in graph.pending} == held
    assert {s.id for s in synced.at_graph()} == held, "Graph still holds them"

    synced.sim.faults.clear()
    clock.advance(FENCE_DELAY)
    done = synced.run_purge(record, clock)
    assert done.status == "completed"
    assert synced.at_graph() == []
    assert done.graph_subscriptions is not None
    assert (done.graph_subscriptions.state, done.graph_subscriptions.deleted) == ("removed", len(held))
    steps = [(s.name, s.error) for s in done.steps if s.name.startswith("subscriptions-")]
    assert steps == [
        ("subscriptions-not-removed-at-graph", "GraphThrottled (Graph 503 ServiceUnavailable)"),
        ("subscriptions-removed-at-graph", None),
    ]


# --- lifecycle events ---------------------------------------------------------------------------------------


def lifecycle(world: World, sub: Subscription, event: str, client_state: str | None = None) -> int:
    note = LifecycleNotification(
        sub.subscription_id,
        world.tenant_id,
        client_state or world.secret_of(sub),
        event,  # type: ignore[arg-type]
    )
    return world.service.lifecycle([note], world.now())


def test_missed_requests_a_refresh_of_the_user(synced: World) -> None:
    user = synced.mailboxes()[0]
    assert lifecycle(synced, subs_of(synced, user)[0], "missed") == 1
    assert [m["userId"] for m in synced.queues.refreshes()] == [user.id.lower()]


def test_reauthorization_required_renews_at_graph_and_in_the_store(synced: World) -> None:
    sub = subs_of(synced, synced.mailboxes()[0])[0]
    renewals = synced.sim.subscriptions.get(sub.subscription_id).renewals
    assert lifecycle(synced, sub, "reauthorizationRequired") == 1
    assert synced.sim.subscriptions.get(sub.subscription_id).renewals == renewals + 1
    stored = synced.store.get(synced.tenant_id, sub.subscription_id)
    assert stored is not None
    assert stored.renewed_at is not None


def test_reauthorization_of_an_excluded_users_subscription_renews_nothing_and_asks_for_a_sync(
    synced: World,
) -> None:
    user = synced.mailboxes()[0]
    sub = subs_of(synced, user)[0]
    renewals = synced.sim.subscriptions.get(sub.subscription_id).renewals
    synced.opt_out(user.id)
    lifecycle(synced, sub, "reauthorizationRequired")
    assert synced.sim.subscriptions.get(sub.subscription_id).renewals == renewals
    assert any(m.get("type") == "subscriptions.sync" for m in synced.queues.sent)


def test_a_removed_subscription_is_forgotten_and_a_sync_and_a_refresh_are_asked_for(synced: World) -> None:
    user = synced.mailboxes()[0]
    sub = subs_of(synced, user)[0]
    synced.sim.subscriptions.delete(sub.subscription_id)  # Graph removed it, then tells the app
    lifecycle(synced, sub, "subscriptionRemoved", client_state="unused")
    assert synced.store.get(synced.tenant_id, sub.subscription_id) is not None, (
        "a wrong secret changes nothing"
    )
    secret = "the-secret"
    synced.store.save(replace(sub, client_state_sha256=client_state_hash(secret)))
    assert lifecycle(synced, sub, "subscriptionRemoved", client_state=secret) == 1
    assert synced.store.get(synced.tenant_id, sub.subscription_id) is None
    asked = [m["type"] for m in synced.queues.sent if m["type"] != "tenant.schedule"]  # (the grant's)
    assert asked == ["subscriptions.sync", "user.refresh"]
    synced.sync()
    assert sorted(s.kind for s in subs_of(synced, user)) == ["events", "messages"]


# --- the refresh, and a race with an opt-out ----------------------------------------------------------------


def test_a_refresh_of_an_excluded_user_reads_nothing_and_is_audited(synced: World) -> None:
    user = synced.mailboxes()[0]
    synced.opt_out(user.id)
    synced.sim.stats.reset()
    assert synced.service.refresh(synced.tenant_id, user.id, synced.now()) == "dropped"
    assert synced.sim.stats.snapshot()["requests"] == 0
    [entry] = synced.audit("notification.dropped")
    assert entry.subject_ids == (user.id.lower(),)


def test_a_refresh_before_the_backfill_has_landed_waits_for_it(synced: World) -> None:
    user = synced.mailboxes()[0]
    synced.sim.stats.reset()
    assert synced.service.refresh(synced.tenant_id, user.id, synced.now()) == "not-ready"
    assert synced.sim.stats.snapshot()["requests"] == 0


class OptOutWhileSubscribing(InclusionReader):
    """The user opts out while Graph is making their subscription: the fence after the create sees it."""

    def __init__(self, inner: InclusionReader, world: World, user_id: str) -> None:
        self._inner, self._world, self._user_id, self.raced = inner, world, user_id.lower(), False

    def tenant(self, tenant_id: str, now: datetime) -> TenantInclusion:
        return self._inner.tenant(tenant_id, now)

    def fence(self, tenant_id: str, user_id: str, now: datetime) -> Fence:
        if user_id == self._user_id and not self.raced:
            self.raced = True
            self._world.opt_out(user_id)
        return self._inner.fence(tenant_id, user_id, now)


def test_a_subscription_made_while_its_user_opts_out_is_deleted_at_once(world: World) -> None:
    user = world.mailboxes()[0]
    world.grant()
    racing = OptOutWhileSubscribing(world.container.inclusion, world, user.id)
    service = SubscriptionService(
        racing, world.store, world.container.cursor_store, world.container.tenant_list,
        worker=world.container.ingestion_worker, queues=world.queues, audit=world.container.audit_log,
        graph_factory=world.container.subscription_graph_factory,
        settings=world.container.notification_settings,
    )  # fmt: skip
    result = service.sync_tenant(world.tenant_id, world.now())
    assert racing.raced
    assert result.revoked >= 1
    assert world.at_graph(user.id) == []
    assert subs_of(world, user) == []


def test_a_group_opt_out_asks_for_a_sync_that_removes_its_members_subscriptions(synced: World) -> None:
    tenant = synced.sim.tenant
    mailboxes = {u.id.lower() for u in synced.mailboxes()}
    group = min(
        (
            g
            for g in tenant.groups
            if len({m.lower() for m in tenant.transitive_user_ids(g.id)} & mailboxes) > 0
        ),
        key=lambda g: len(tenant.transitive_user_ids(g.id)),
    )
    members = {m.lower() for m in tenant.transitive_user_ids(group.id)}
    provenance = api_provenance(None, synced.now())
    synced.container.optout_service.replace_groups(synced.tenant_id, frozenset({group.id}), provenance)
    synced.container.membership_service.resolve(synced.tenant_id, synced.now())
    assert any(m.get("type") == "subscriptions.sync" for m in synced.queues.sent)
    synced.sync()
    held = {s.user_id for s in synced.store.of_tenant(synced.tenant_id)}
    assert held, "the others keep theirs"
    assert not held & members
    assert not {s.mailbox for s in synced.at_graph()} & members
