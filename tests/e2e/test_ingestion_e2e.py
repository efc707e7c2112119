"""Grant, ingest a year through the timer and the `ingest` queue, then read the insights over HTTP.

This host gets its own Azurite: the daily timer schedules every consented tenant of its storage, and other
hosts of the session listen on the shared `ingest` queue with no Graph simulator behind them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from devhost.azurite import Azurite
from graphsim.generate import TenantSpec
from graphsim.server import GraphSimulator
from graphsim.tenant import Tenant
from tests.support.apphost import AppHost, start_app_host
from tests.support.identity import JwksServer, TokenFactory
from tests.support.schemas import conforms

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


@dataclass(frozen=True)
class Ingested:
    """A tenant granted and ingested through the timer and the queue; a reader's and an admin's token."""

    host: AppHost
    sim: GraphSimulator
    tenant: str
    manage: dict[str, str]
    reader: dict[str, str]


@pytest.fixture(scope="module")
def ingested(world: tuple[AppHost, GraphSimulator], tokens: tuple[JwksServer, TokenFactory]) -> Ingested:
    host, sim = world
    _, factory = tokens
    tenant = str(uuid.uuid4())
    manage = {"Authorization": factory.authorization(tenant, roles=["Consent.Manage"], oid=str(uuid.uuid4()))}
    reader = {"Authorization": factory.authorization(tenant, roles=["Insights.Read"], oid=str(uuid.uuid4()))}
    contact = sim.tenant.contacts[0].address
    before = host.post(
        f"/api/tenants/{tenant}/relationships/lookup", json={"contact": contact}, headers=reader
    )
    assert before.status_code == 404, "a tenant that never consented has no insights"
    assert host.put(f"/api/tenants/{tenant}/consent", headers=manage).status_code == 200
    assert host.fire("ingestion_schedule")["outcome"] == "Succeeded"
    host.wait_for_queues_idle(timeout=120)
    return Ingested(host, sim, tenant, manage, reader)


def test_a_granted_tenant_is_ingested_through_the_timer_and_the_queue_and_read_over_http(
    ingested: Ingested,
) -> None:
    host, tenant, reader = ingested.host, ingested.tenant, ingested.reader
    contact = ingested.sim.tenant.contacts[0].address

    relationship = host.get(
        f"/api/tenants/{tenant}/relationships", params={"contact": contact}, headers=reader
    )
    assert relationship.status_code == 200, relationship.text
    body = relationship.json()
    conforms(body, "Relationship")
    assert body["accuracy"] == "complete"
    assert body["emailsSent"] + body["emailsReceived"] > 0
    assert len(body["timeline"]) == 52
    lookup = host.post(
        f"/api/tenants/{tenant}/relationships/lookup", json={"contact": contact}, headers=reader
    )
    assert {k: v for k, v in lookup.json().items() if k != "computedAt"} == {
        k: v for k, v in body.items() if k != "computedAt"
    }, "the POST lookup answers what the GET form answers"

    who = host.get(f"/api/tenants/{tenant}/who-knows-whom", params={"contact": contact}, headers=reader)
    assert who.status_code == 200, who.text
    conforms(who.json(), "WhoKnowsWhom")
    colleagues = who.json()["colleagues"]
    assert colleagues
    intro = host.post(
        f"/api/tenants/{tenant}/who-knows-whom/introductions",
        json={"contact": contact, "colleagueUserId": colleagues[0]["userId"]},
        headers=reader,
    )
    assert intro.status_code == 201, intro.text
    assert intro.json()["draft"]["to"] == colleagues[0]["address"]


def test_an_account_sums_the_interactions_of_its_contacts_and_names_only_those_the_caller_named(
    ingested: Ingested,
) -> None:
    host, tenant, reader = ingested.host, ingested.tenant, ingested.reader
    domain = ingested.sim.tenant.contacts[0].address.rsplit("@", 1)[1]
    addresses = [c.address for c in ingested.sim.tenant.contacts if c.address.endswith("@" + domain)]
    per_contact = [
        host.post(f"/api/tenants/{tenant}/relationships/lookup", json={"contact": a}, headers=reader)
        for a in addresses
    ]
    known = [r.json() for r in per_contact if r.status_code == 200]

    answer = host.get(f"/api/tenants/{tenant}/accounts/{domain}/relationships", headers=reader)
    assert answer.status_code == 200, answer.text
    account = answer.json()
    conforms(account, "Account")
    assert account["domain"] == domain
    assert account["contacts"] == len(known)
    assert account["emailsSent"] == sum(k["emailsSent"] for k in known)
    assert account["emailsReceived"] == sum(k["emailsReceived"] for k in known)
    assert 1 <= len(account["topContacts"]) <= 3
    assert all(c["contact"] is None for c in account["topContacts"]), "no address is stored to be shown"

    named = host.post(
        f"/api/tenants/{tenant}/accounts/lookup",
        json={"domain": domain.upper(), "knownContacts": addresses[:1]},
        headers=reader,
    ).json()
    assert named["contacts"] == account["contacts"], "the domain is matched case-insensitively"
    shown = {c["contact"] for c in named["topContacts"]} - {None}
    assert shown <= {addresses[0].lower()}, "only a contact the caller named is shown by address"


def test_an_unknown_account_answers_404_and_a_bad_lookup_400(ingested: Ingested) -> None:
    host, tenant, reader = ingested.host, ingested.tenant, ingested.reader
    unknown = host.get(f"/api/tenants/{tenant}/accounts/nobody.example/relationships", headers=reader)
    assert unknown.status_code == 404
    for body in ({}, {"domain": 7}, {"domain": "a.example", "knownContacts": "x@a.example"}):
        refused = host.post(f"/api/tenants/{tenant}/accounts/lookup", json=body, headers=reader)
        assert refused.status_code == 400, f"{body} was accepted"
    bad_name = {"domain": "a.example", "knownContacts": ["ann@a.example", "Ann <ann@a.example>"]}
    refused = host.post(f"/api/tenants/{tenant}/accounts/lookup", json=bad_name, headers=reader)
    assert refused.status_code == 400
    assert [e["field"] for e in refused.json()["errors"]] == ["knownContacts[1]"]


def test_changed_insight_settings_apply_to_the_next_answer_and_are_audited(ingested: Ingested) -> None:
    host, tenant, manage, reader = ingested.host, ingested.tenant, ingested.manage, ingested.reader
    settings = f"/api/tenants/{tenant}/insights/settings"
    contact = ingested.sim.tenant.contacts[0].address
    default = host.get(settings, headers=manage).json()
    conforms(default, "InsightSettings")
    assert default["cadence"] == "weekly"
    weekly = host.post(
        f"/api/tenants/{tenant}/relationships/lookup", json={"contact": contact}, headers=reader
    )

    saved = host.put(settings, json={"cadence": "monthly"}, headers=manage)
    assert saved.status_code == 200, saved.text
    conforms(saved.json(), "InsightSettingsSaved")
    assert "nothing stored was recomputed" in saved.json()["applies"]
    monthly = host.post(
        f"/api/tenants/{tenant}/relationships/lookup", json={"contact": contact}, headers=reader
    )

    assert host.get(settings, headers=manage).json()["cadence"] == "monthly"
    assert monthly.json()["health"]["cadence"] == "monthly"
    assert monthly.json()["health"]["score"] > weekly.json()["health"]["score"], (
        "the same exchanges measured against a monthly cadence score higher than against a weekly one"
    )
    kinds = [e["kind"] for e in host.get(f"/api/tenants/{tenant}/audit", headers=manage).json()["entries"]]
    assert "insights.settings.changed" in kinds
    host.put(settings, json={}, headers=manage)


def test_invalid_insight_settings_are_refused_naming_each_field_and_change_nothing(
    ingested: Ingested,
) -> None:
    host, tenant, manage = ingested.host, ingested.tenant, ingested.manage
    settings = f"/api/tenants/{tenant}/insights/settings"
    before = host.get(settings, headers=manage).json()
    tried = {
        "emailWeight": 2.0,  # outside 0.5..1.5
        "grades": {"good": [50, 100], "fair": [40, 59], "poor": [0, 39]},  # overlapping
        "cadence": "hourly",  # not a cadence
        "colour": "blue",  # not a setting
    }
    refused = host.put(settings, json=tried, headers=manage)
    assert refused.status_code == 400
    named = {error["field"] for error in refused.json()["errors"]}
    assert named == {"emailWeight", "grades", "cadence", "colour"}
    assert host.get(settings, headers=manage).json() == before


def test_insight_settings_are_for_administrators(ingested: Ingested) -> None:
    host, tenant, reader = ingested.host, ingested.tenant, ingested.reader
    settings = f"/api/tenants/{tenant}/insights/settings"
    assert host.get(settings, headers=reader).status_code == 403
    assert host.put(settings, json={"cadence": "monthly"}, headers=reader).status_code == 403
    assert host.put(settings, json={"cadence": "monthly"}).status_code == 401


def test_the_ingestion_progress_shows_every_backfill_window_done_and_the_insights_complete(
    ingested: Ingested,
) -> None:
    answer = ingested.host.get(f"/api/tenants/{ingested.tenant}/ingestion", headers=ingested.manage)
    assert answer.status_code == 200
    progress = answer.json()
    conforms(progress, "IngestionProgress")
    users = SPEC.users
    assert (progress["phase"], progress["reason"], progress["accuracy"]) == (
        "current",
        "included",
        "complete",
    )
    assert progress["users"] == {"total": users, "backfilled": users}
    assert progress["backfillWindows"] == {"total": 12 * users, "done": 12 * users}
    assert progress["windowsByStatus"] == {"succeeded": 12 * users}
    assert (progress["failingUsers"], progress["estimatedBackfillEnd"]) == ([], None)
    assert progress["backfillStartedAt"] is not None


def test_the_ingestion_progress_is_for_administrators_and_says_why_a_tenant_is_off(
    world: tuple[AppHost, GraphSimulator], tokens: tuple[JwksServer, TokenFactory], ingested: Ingested
) -> None:
    host, _ = world
    _, factory = tokens
    route = f"/api/tenants/{ingested.tenant}/ingestion"
    assert host.get(route, headers=ingested.reader).status_code == 403
    assert host.get(route).status_code == 401
    never = str(uuid.uuid4())
    manage = {"Authorization": factory.authorization(never, roles=["Consent.Manage"])}
    off = host.get(f"/api/tenants/{never}/ingestion", headers=manage).json()
    assert (off["phase"], off["reason"], off["users"]["total"]) == ("off", "no-feature-enabled", 0)


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
