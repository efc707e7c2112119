"""The Graph adapter's subscription calls (create, renew, delete, list) against the simulator over HTTP, with
a loopback receiver answering Graph's validation handshake."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from kiota_http.middleware.options import RetryHandlerOption

from functions.adapters.graph import GraphAdapter
from functions.adapters.graph_auth import StaticTokenCredential
from functions.domain.errors import GraphNotFound
from functions.services.ports.subscriptions import GraphSubscription
from graphsim.generate import TenantSpec
from graphsim.model import User
from graphsim.server import GraphSimulator
from graphsim.tenant import Tenant
from tests.support.notification_receiver import Receiver

pytestmark = pytest.mark.integration

T = TypeVar("T")
SPEC = TenantSpec(seed=11, users=4, external_contacts=10, months=1, messages_per_user_per_month=2)
UNKNOWN = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def sim() -> Iterator[GraphSimulator]:
    with GraphSimulator(Tenant(SPEC)) as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def with_graph(sim: GraphSimulator, work: Callable[[GraphAdapter], Awaitable[T]]) -> T:
    async def main() -> T:
        adapter = GraphAdapter(
            sim.graph_url,
            lambda _tenant: StaticTokenCredential(sim.token),
            retry=RetryHandlerOption(delay=0, max_retries=2),
        )
        try:
            return await work(adapter)
        finally:
            await adapter.aclose()

    return asyncio.run(main())


def in_hours(hours: float) -> datetime:
    return (datetime.now(UTC) + timedelta(hours=hours)).replace(microsecond=0)


def mailboxes(sim: GraphSimulator) -> list[User]:
    return [u for u in sim.tenant.users() if u.mail]


def create(
    sim: GraphSimulator, receiver: Receiver, user: User, kind: str = "messages", hours: float = 24
) -> GraphSubscription:
    return with_graph(
        sim,
        lambda graph: graph.create_subscription(
            sim.tenant.tenant_id,
            resource=f"users/{user.id}/{kind}",
            notification_url=receiver.base_url + "/graph/notifications",
            lifecycle_url=receiver.base_url + "/graph/lifecycle",
            client_state="the-client-state",
            expires_at=in_hours(hours),
        ),
    )


def at_graph(sim: GraphSimulator, subscription_id: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{sim.graph_url}/subscriptions/{subscription_id}")  # noqa: S310 (loopback)
    request.add_header("Authorization", f"Bearer {sim.token}")
    with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
        return dict(json.loads(response.read()))


def listed(sim: GraphSimulator) -> list[GraphSubscription]:
    async def collect(graph: GraphAdapter) -> list[GraphSubscription]:
        return [s async for s in graph.list_subscriptions(sim.tenant.tenant_id)]

    return with_graph(sim, collect)


def test_creating_a_subscription_answers_its_id_expiry_and_resource(
    sim: GraphSimulator, receiver: Receiver
) -> None:
    user = mailboxes(sim)[0]
    expires = in_hours(24)
    made = with_graph(
        sim,
        lambda graph: graph.create_subscription(
            sim.tenant.tenant_id,
            resource=f"users/{user.id}/events",
            notification_url=receiver.base_url + "/graph/notifications",
            lifecycle_url=receiver.base_url + "/graph/lifecycle",
            client_state="the-client-state",
            expires_at=expires,
        ),
    )
    assert made.subscription_id
    assert made.resource == f"users/{user.id}/events"
    assert made.expires_at == expires
    assert made.expires_at.tzinfo is not None
    assert made.notification_url == receiver.base_url + "/graph/notifications"


def test_a_created_subscription_asks_for_basic_notifications_of_every_change(
    sim: GraphSimulator, receiver: Receiver
) -> None:
    made = create(sim, receiver, mailboxes(sim)[0])
    held = at_graph(sim, made.subscription_id)
    assert held["includeResourceData"] is False
    assert held["changeType"] == "created,updated,deleted"
    assert held["clientState"] == "the-client-state"
    assert held["lifecycleNotificationUrl"] == receiver.base_url + "/graph/lifecycle"


def test_both_urls_pass_the_validation_handshake_before_the_subscription_exists(
    sim: GraphSimulator, receiver: Receiver
) -> None:
    create(sim, receiver, mailboxes(sim)[0])
    assert receiver.validated == ["/api/graph/notifications", "/api/graph/lifecycle"]


def test_renewing_moves_the_expiry(sim: GraphSimulator, receiver: Receiver) -> None:
    made = create(sim, receiver, mailboxes(sim)[0], hours=1)
    later = in_hours(48)
    renewed = with_graph(
        sim, lambda graph: graph.renew_subscription(sim.tenant.tenant_id, made.subscription_id, later)
    )
    assert renewed == later
    held = at_graph(sim, made.subscription_id)
    assert datetime.fromisoformat(held["expirationDateTime"]) == later


def test_renewing_an_unknown_subscription_is_not_found(sim: GraphSimulator) -> None:
    with pytest.raises(GraphNotFound):
        with_graph(sim, lambda graph: graph.renew_subscription(sim.tenant.tenant_id, UNKNOWN, in_hours(24)))


def test_deleting_answers_true_then_false_once_it_is_gone(sim: GraphSimulator, receiver: Receiver) -> None:
    made = create(sim, receiver, mailboxes(sim)[0])

    async def twice(graph: GraphAdapter) -> tuple[bool, bool]:
        first = await graph.delete_subscription(sim.tenant.tenant_id, made.subscription_id)
        return first, await graph.delete_subscription(sim.tenant.tenant_id, made.subscription_id)

    assert with_graph(sim, twice) == (True, False)
    assert sim.subscriptions.active() == []


def test_deleting_an_unknown_subscription_is_false(sim: GraphSimulator) -> None:
    assert with_graph(sim, lambda graph: graph.delete_subscription(sim.tenant.tenant_id, UNKNOWN)) is False


def test_listing_yields_every_subscription_made(sim: GraphSimulator, receiver: Receiver) -> None:
    first, second = mailboxes(sim)[:2]
    made = [create(sim, receiver, first, "messages"), create(sim, receiver, second, "events")]
    found = listed(sim)
    assert {s.subscription_id for s in found} == {m.subscription_id for m in made}
    assert {s.resource for s in found} == {f"users/{first.id}/messages", f"users/{second.id}/events"}
    assert {s.notification_url for s in found} == {receiver.base_url + "/graph/notifications"}


def test_listing_without_subscriptions_yields_nothing(sim: GraphSimulator) -> None:
    assert listed(sim) == []


def test_a_deleted_subscription_is_no_longer_listed(sim: GraphSimulator, receiver: Receiver) -> None:
    gone, kept = create(sim, receiver, mailboxes(sim)[0]), create(sim, receiver, mailboxes(sim)[1])
    with_graph(sim, lambda graph: graph.delete_subscription(sim.tenant.tenant_id, gone.subscription_id))
    assert [s.subscription_id for s in listed(sim)] == [kept.subscription_id]


def test_a_throttled_create_is_retried_after_retry_after_and_makes_one_subscription(
    sim: GraphSimulator, receiver: Receiver
) -> None:
    sim.faults.update(throttle_next=2, retry_after=0)
    made = create(sim, receiver, mailboxes(sim)[0])
    assert [s.id for s in sim.subscriptions.active()] == [made.subscription_id]
    assert sim.stats.snapshot()["statuses"].get("429") == 2


def test_throttled_renewals_and_deletions_are_retried_too(sim: GraphSimulator, receiver: Receiver) -> None:
    made = create(sim, receiver, mailboxes(sim)[0], hours=1)
    sim.faults.update(throttle_next=1, retry_after=0)
    renewed = with_graph(
        sim, lambda graph: graph.renew_subscription(sim.tenant.tenant_id, made.subscription_id, in_hours(48))
    )
    assert renewed > made.expires_at + timedelta(hours=40)
    sim.faults.update(throttle_next=1, retry_after=0)
    assert with_graph(
        sim, lambda graph: graph.delete_subscription(sim.tenant.tenant_id, made.subscription_id)
    )
    assert sim.subscriptions.active() == []
