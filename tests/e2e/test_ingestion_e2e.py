"""Grant, ingest a year through the timer and the `ingest` queue, then read the insights over HTTP.

This host gets its own Azurite: the daily timer schedules every consented tenant of its storage, and other
hosts of the session listen on the shared `ingest` queue with no Graph simulator behind them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from devhost.azurite import Azurite
from graphsim.generate import TenantSpec
from graphsim.server import GraphSimulator
from graphsim.tenant import Tenant
from tests.support.apphost import AppHost, start_app_host
from tests.support.identity import JwksServer, TokenFactory

pytestmark = pytest.mark.e2e

SPEC = TenantSpec(
    seed=11, users=3, external_contacts=15, messages_per_user_per_month=4, meetings_per_user_per_month=1
)


@pytest.fixture(scope="module")
def world(tokens: tuple[JwksServer, TokenFactory]) -> Iterator[tuple[AppHost, GraphSimulator]]:
    jwks, _ = tokens
    with Azurite() as azurite, GraphSimulator(Tenant(SPEC)) as sim:
        host = start_app_host(
            azurite.connection_string,
            AUTH_JWKS_URL=jwks.url, GRAPH_BASE_URL=sim.graph_url, GRAPH_STATIC_TOKEN=sim.token,
        )  # fmt: skip
        try:
            yield host, sim
        finally:
            host.close()


def test_a_granted_tenant_is_ingested_through_the_timer_and_the_queue_and_read_over_http(
    world: tuple[AppHost, GraphSimulator], tokens: tuple[JwksServer, TokenFactory]
) -> None:
    host, sim = world
    _, factory = tokens
    tenant = str(uuid.uuid4())
    manage = {"Authorization": factory.authorization(tenant, roles=["Consent.Manage"], oid=str(uuid.uuid4()))}
    reader = {"Authorization": factory.authorization(tenant, roles=["Insights.Read"], oid=str(uuid.uuid4()))}
    contact = sim.tenant.contacts[0].address

    assert (
        host.get(
            f"/api/tenants/{tenant}/relationships", params={"contact": contact}, headers=reader
        ).status_code
        == 404
    )
    assert host.put(f"/api/tenants/{tenant}/consent", headers=manage).status_code == 200
    assert host.fire("ingestion_schedule")["outcome"] == "Succeeded"
    host.wait_for_queues_idle(timeout=120)

    relationship = host.get(
        f"/api/tenants/{tenant}/relationships", params={"contact": contact}, headers=reader
    )
    assert relationship.status_code == 200, relationship.text
    body = relationship.json()
    assert body["accuracy"] == "complete"
    assert body["emailsSent"] + body["emailsReceived"] > 0
    assert len(body["timeline"]) == 52

    who = host.get(f"/api/tenants/{tenant}/who-knows-whom", params={"contact": contact}, headers=reader)
    assert who.status_code == 200, who.text
    colleagues = who.json()["colleagues"]
    assert colleagues
    intro = host.post(
        f"/api/tenants/{tenant}/who-knows-whom/introductions",
        json={"contact": contact, "colleagueUserId": colleagues[0]["userId"]},
        headers=reader,
    )
    assert intro.status_code == 201, intro.text
    assert intro.json()["draft"]["to"] == colleagues[0]["address"]


def test_insight_routes_need_the_role_and_a_valid_contact(
    world: tuple[AppHost, GraphSimulator], tokens: tuple[JwksServer, TokenFactory]
) -> None:
    host, _ = world
    _, factory = tokens
    tenant = str(uuid.uuid4())
    route = f"/api/tenants/{tenant}/who-knows-whom"
    no_role = {"Authorization": factory.authorization(tenant)}
    reader = {"Authorization": factory.authorization(tenant, roles=["Insights.Read"])}
    assert host.get(route, params={"contact": "a@b.com"}).status_code == 401
    assert host.get(route, params={"contact": "a@b.com"}, headers=no_role).status_code == 403
    assert host.get(route, headers=reader).status_code == 400
    assert host.get(route, params={"contact": "not an address"}, headers=reader).status_code == 400
    missing = host.get(route, params={"contact": "a@b.com"}, headers=reader)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
