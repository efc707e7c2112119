"""Graph change notifications through the local host and the simulator, as Graph and a client see them:
the validation handshake, a new message refreshing the KPIs within seconds, lifecycle events, renewal, and
a notification that arrives after a withdrawal writing nothing.

The tests of this module run in order on one tenant (the simulator's), with their own Azurite: the timer
schedules every consented tenant of its storage, and the simulator notifies for one tenant only.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from devhost.azurite import Azurite, free_port
from graphsim.generate import TenantSpec
from graphsim.server import GraphSimulator
from graphsim.tenant import Tenant
from tests.support.apphost import AppHost, app_host_env
from tests.support.identity import JwksServer, TokenFactory

pytestmark = pytest.mark.e2e

SPEC = TenantSpec(
    seed=23, users=3, external_contacts=12, messages_per_user_per_month=3, meetings_per_user_per_month=1
)


@dataclass(frozen=True)
class World:
    host: AppHost
    sim: GraphSimulator
    tenant: str
    manage: dict[str, str]
    reader: dict[str, str]

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = httpx.request(method, f"{self.sim.url}{path}", timeout=30.0, **kwargs)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def subscriptions(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "/_sim/subscriptions")["value"])

    def audit(self) -> list[dict[str, Any]]:
        answer = self.host.get(
            f"/api/tenants/{self.tenant}/audit", params={"limit": 200}, headers=self.manage
        )
        assert answer.status_code == 200, answer.text
        return list(answer.json()["entries"])

    def relationship(self, contact: str) -> dict[str, Any]:
        answer = self.host.get(
            f"/api/tenants/{self.tenant}/relationships", params={"contact": contact}, headers=self.reader
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


@pytest.fixture(scope="module")
def world(tokens: tuple[JwksServer, TokenFactory]) -> Iterator[World]:
    jwks, factory = tokens
    port = free_port()
    with Azurite() as azurite, GraphSimulator(Tenant(SPEC)) as sim:
        env = app_host_env(
            azurite.connection_string,
            AUTH_JWKS_URL=jwks.url, GRAPH_BASE_URL=sim.graph_url, GRAPH_STATIC_TOKEN=sim.token,
            GRAPH_NOTIFICATIONS="on", GRAPH_NOTIFICATION_URL=f"http://127.0.0.1:{port}/api",
            # Every sync renews what it keeps, so renewal is seen without waiting for an expiry.
            GRAPH_SUBSCRIPTION_MINUTES="60", GRAPH_SUBSCRIPTION_RENEW_MINUTES="60",
            REFRESH_COALESCE_SECONDS="1",
        )  # fmt: skip
        host = AppHost(env, port=port)
        try:
            host.start()
            tenant = sim.tenant.tenant_id.lower()
            manage = {
                "Authorization": factory.authorization(
                    tenant, roles=["Consent.Manage"], oid=str(uuid.uuid4())
                )
            }
            reader = {
                "Authorization": factory.authorization(tenant, roles=["Insights.Read"], oid=str(uuid.uuid4()))
            }
            world = World(host, sim, tenant, manage, reader)
            assert host.put(f"/api/tenants/{tenant}/consent", headers=manage).status_code == 200
            assert host.fire("ingestion_schedule")["outcome"] == "Succeeded"
            host.wait_for_queues_idle(timeout=180)
            yield world
        finally:
            host.close()


def mailbox_users(world: World) -> list[str]:
    return [u.id.lower() for u in world.sim.tenant.users() if u.mail]


def eventually(check: Callable[[], bool], timeout: float = 60.0) -> float:
    """Seconds until `check` holds; fails after `timeout`."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, "did not happen in time"
        time.sleep(0.25)
    return time.monotonic() - started


def test_the_validation_handshake_echoes_the_decoded_token_as_plain_text(world: World) -> None:
    token = "Validation: Testing client application reachability for subscription Request-Id: 42"
    answer = world.host.post("/api/graph/notifications", params={"validationToken": token})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text == token
    assert world.host.post("/api/graph/lifecycle", params={"validationToken": token}).text == token


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"value": "not a list"}', "application/json", 400),
        (b'{"value": [{"tenantId": "x"}]}', "application/json", 400),  # no subscriptionId
        (b"[1, 2]", "application/json", 400),
        (b'{"value": []', "application/json", 400),  # truncated
        (b'{"value": []}', "text/plain", 415),
    ],
    ids=["value-not-a-list", "no-subscription-id", "not-an-object", "truncated", "wrong-content-type"],
)
def test_a_body_that_is_not_graphs_notification_is_refused_and_changes_nothing(
    world: World, body: bytes, content_type: str, status: int
) -> None:
    before = len(world.audit())
    for route in ("/api/graph/notifications", "/api/graph/lifecycle"):
        answer = world.host.post(route, content=body, headers={"Content-Type": content_type})
        assert answer.status_code == status, answer.text
    assert len(world.audit()) == before
    refresh = [q for q in world.host.queue_status()["queues"] if q["queue"] == "refresh"]
    assert all((q["approximateMessageCount"] or 0) + q["inFlight"] == 0 for q in refresh)


def test_a_notification_of_a_subscription_the_app_does_not_hold_is_accepted_and_ignored(world: World) -> None:
    note = {"subscriptionId": str(uuid.uuid4()), "tenantId": world.tenant, "clientState": "guess"}
    assert world.host.post("/api/graph/notifications", json={"value": [note]}).status_code == 202
    world.host.wait_for_queues_idle(timeout=30)
    assert not [e for e in world.audit() if e["kind"].startswith("notification")]


def test_the_timer_subscribes_every_included_mailbox_to_mail_and_events_after_the_handshake(
    world: World,
) -> None:
    assert world.host.fire("subscriptions_sync")["outcome"] == "Succeeded"
    subs = world.subscriptions()
    expected = {f"users/{u}/{kind}" for u in mailbox_users(world) for kind in ("messages", "events")}
    assert {s["resource"].lower() for s in subs} == expected
    assert all(s["notificationUrl"].endswith("/api/graph/notifications") for s in subs)
    assert all(s["lifecycleNotificationUrl"].endswith("/api/graph/lifecycle") for s in subs)


def test_a_new_message_refreshes_the_kpis_within_a_minute(world: World) -> None:
    user = next(u for u in world.sim.tenant.users() if u.mail)
    contact = world.sim.tenant.contacts[0].address
    before = world.relationship(contact)["emailsSent"]
    sent = world.control(
        "POST", "/_sim/mail",
        json={"from": user.mail, "to": [contact], "at": datetime.now(UTC).isoformat()},
    )  # fmt: skip
    assert sent["notified"] >= 1
    seconds = eventually(lambda: world.relationship(contact)["emailsSent"] == before + 1)
    assert seconds < 60


def test_a_burst_of_notifications_for_one_user_is_one_delta_round(world: World) -> None:
    user = next(u for u in world.sim.tenant.users() if u.mail)
    contact = world.sim.tenant.contacts[1].address
    before = world.relationship(contact)["emailsSent"]
    rounds_before = _refresh_rounds(world, user.id.lower())
    for _ in range(3):
        world.control("POST", "/_sim/mail", json={"from": user.mail, "to": [contact]})
    eventually(lambda: world.relationship(contact)["emailsSent"] == before + 3)
    world.host.wait_for_queues_idle(timeout=60)
    assert _refresh_rounds(world, user.id.lower()) - rounds_before <= 2, "coalesced, not one round each"


def _refresh_rounds(world: World, user_id: str) -> int:
    return sum(
        1
        for e in world.audit()
        if e["kind"] == "ingestion.window" and user_id in e["subjectIds"] and e["detail"] == "incremental"
    )


def test_reauthorization_required_renews_the_subscription(world: World) -> None:
    sub = world.subscriptions()[0]
    answer = world.control(
        "POST", f"/_sim/subscriptions/{sub['id']}/lifecycle", json={"event": "reauthorizationRequired"}
    )
    assert answer["status"] == 202
    renewed = next(s for s in world.subscriptions() if s["id"] == sub["id"])
    assert renewed["renewals"] == sub["renewals"] + 1


def test_a_removed_subscription_is_made_again(world: World) -> None:
    sub = world.subscriptions()[0]
    answer = world.control(
        "POST", f"/_sim/subscriptions/{sub['id']}/lifecycle", json={"event": "subscriptionRemoved"}
    )
    assert answer["status"] == 202
    world.host.wait_for_queues_idle(timeout=60)
    subs = world.subscriptions()
    assert sub["id"] not in {s["id"] for s in subs}
    assert sub["resource"] in {s["resource"] for s in subs}, "recreated by the reconciliation it asked for"


def test_the_timer_renews_subscriptions_before_they_expire(world: World) -> None:
    before = {s["id"]: s for s in world.subscriptions()}
    assert world.host.fire("subscriptions_sync")["outcome"] == "Succeeded"
    after = {s["id"]: s for s in world.subscriptions()}
    assert set(after) == set(before), "renewed, not replaced"
    assert all(after[i]["renewals"] == before[i]["renewals"] + 1 for i in after)
    assert all(after[i]["expirationDateTime"] >= before[i]["expirationDateTime"] for i in after)


def test_a_notification_that_arrives_after_the_withdrawal_writes_nothing_and_the_purge_counts_subscriptions(
    world: World,
) -> None:
    late = world.subscriptions()[0]
    user_id = late["resource"].split("/")[1].lower()
    withdrawn = world.host.delete(f"/api/tenants/{world.tenant}/consent", headers=world.manage)
    assert withdrawn.status_code in (200, 202), withdrawn.text
    # Graph's notification for a change made just before the withdrawal, delivered just after it.
    note = {
        "subscriptionId": late["id"], "tenantId": world.tenant, "clientState": late["clientState"],
        "changeType": "created", "resource": f"Users/{user_id}/Messages/late-1",
    }  # fmt: skip
    assert world.host.post("/api/graph/notifications", json={"value": [note]}).status_code == 202
    world.host.wait_for_queues_idle(timeout=120)

    entries = world.audit()
    withdrawal = max(e["at"] for e in entries if e["kind"].startswith("consent"))
    after = [e for e in entries if e["at"] >= withdrawal]
    assert any(e["kind"] == "notification.dropped" and user_id in e["subjectIds"] for e in after)
    assert not any(e["kind"] == "ingestion.window" and e["outcome"] == "succeeded" for e in after)
    assert world.subscriptions() == [], "the purge deleted every subscription at Graph"
    purges = world.host.get(f"/api/tenants/{world.tenant}/purges", headers=world.manage).json()["purges"]
    record = purges[0]
    assert record["counts"]["subscriptions"] >= 1
    assert record["verification"]["subscriptions"] == 0
