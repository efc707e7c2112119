"""Privacy over HTTP, as a client sees it: a group opt-out takes effect at once in both insights, an
excluded person cannot ask for introductions, and no contact's address reaches the log (this host's own
Azurite and Graph simulator; `GROUP_OPTOUT_EXISTING_DATA=retain`, so the members' data stays and only hiding
is tested)."""

from __future__ import annotations

import time
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from devhost.azurite import Azurite
from graphsim.generate import TenantSpec
from graphsim.server import GraphSimulator
from graphsim.tenant import Tenant
from tests.support.apphost import AppHost, start_app_host
from tests.support.identity import JwksServer, TokenFactory

pytestmark = pytest.mark.e2e

SPEC = TenantSpec(
    seed=23, users=6, external_contacts=12, messages_per_user_per_month=4, meetings_per_user_per_month=1
)
TENANT = str(uuid.uuid4())


@pytest.fixture(scope="module")
def world(tokens: tuple[JwksServer, TokenFactory]) -> Iterator[tuple[AppHost, GraphSimulator]]:
    jwks, factory = tokens
    with Azurite() as azurite, GraphSimulator(Tenant(SPEC)) as sim:
        host = start_app_host(
            azurite.connection_string, AUTH_JWKS_URL=jwks.url, GRAPH_BASE_URL=sim.graph_url,
            GRAPH_STATIC_TOKEN=sim.token, GROUP_OPTOUT_EXISTING_DATA="retain",
        )  # fmt: skip
        try:
            manage = {"Authorization": factory.authorization(TENANT, roles=["Consent.Manage"])}
            assert host.put(f"/api/tenants/{TENANT}/consent", headers=manage).status_code == 200
            host.wait_for_queues_idle(timeout=120)
            yield host, sim
        finally:
            host.close()


def reader(factory: TokenFactory, oid: str | None = None) -> dict[str, str]:
    return {
        "Authorization": factory.authorization(TENANT, roles=["Insights.Read"], oid=oid or str(uuid.uuid4()))
    }


def manager(factory: TokenFactory) -> dict[str, str]:
    return {"Authorization": factory.authorization(TENANT, roles=["Consent.Manage"], oid=str(uuid.uuid4()))}


def lookup(host: AppHost, factory: TokenFactory, insight: str, contact: str) -> Any:
    response = host.post(
        f"/api/tenants/{TENANT}/{insight}/lookup", json={"contact": contact}, headers=reader(factory)
    )
    assert response.status_code == 200, response.text
    return response.json()


def contact_known_inside_and_outside_a_group(
    host: AppHost, sim: GraphSimulator, factory: TokenFactory
) -> tuple[str, str, set[str]]:
    tenant = sim.tenant
    for group in tenant.groups:
        members = {m.lower() for m in tenant.transitive_user_ids(group.id)}
        if not members:
            continue
        for contact in tenant.contacts:
            response = host.post(
                f"/api/tenants/{TENANT}/who-knows-whom/lookup", json={"contact": contact.address},
                headers=reader(factory),
            )  # fmt: skip
            if response.status_code != 200:
                continue
            shown = {c["userId"] for c in response.json()["colleagues"]}
            if shown & members and shown - members:
                return contact.address, group.id, members
    raise AssertionError("no contact is known both inside and outside one group")


def test_a_group_opt_out_hides_its_members_from_both_insights_within_seconds(
    world: tuple[AppHost, GraphSimulator], tokens: tuple[JwksServer, TokenFactory]
) -> None:
    host, sim = world
    _, factory = tokens
    contact, group, members = contact_known_inside_and_outside_a_group(host, sim, factory)
    changed = host.put(
        f"/api/tenants/{TENANT}/opt-outs/groups", json={"groupIds": [group]}, headers=manager(factory)
    )
    assert changed.status_code == 200, changed.text  # retain: no purge
    at_once = lookup(host, factory, "who-knows-whom", contact)
    assert not {c["userId"] for c in at_once["colleagues"]} & members
    deadline = time.monotonic() + 30
    while (answer := lookup(host, factory, "who-knows-whom", contact))["accuracy"] != "complete":
        assert time.monotonic() < deadline, "the group's members were not resolved within 30 s"
        time.sleep(0.2)
    shown = {c["userId"] for c in answer["colleagues"]}
    assert shown
    assert not shown & members
    assert lookup(host, factory, "relationships", contact)["accuracy"] == "complete"
    host.put(f"/api/tenants/{TENANT}/opt-outs/groups", json={"groupIds": []}, headers=manager(factory))


def test_a_person_who_opted_out_cannot_ask_for_an_introduction(
    world: tuple[AppHost, GraphSimulator], tokens: tuple[JwksServer, TokenFactory]
) -> None:
    host, sim = world
    _, factory = tokens
    contact = sim.tenant.contacts[0].address
    colleagues = lookup(host, factory, "who-knows-whom", contact)["colleagues"]
    requester = next(u.id for u in sim.tenant.users() if u.id not in {c["userId"] for c in colleagues[:1]})
    mine = {"Authorization": factory.authorization(TENANT, roles=["Insights.Read"], oid=requester)}
    assert host.put(f"/api/tenants/{TENANT}/opt-outs/users/{requester}", headers=mine).status_code == 202
    intro = host.post(
        f"/api/tenants/{TENANT}/who-knows-whom/introductions",
        json={"contact": contact, "colleagueUserId": colleagues[0]["userId"]}, headers=mine,
    )  # fmt: skip
    assert intro.status_code == 403, intro.text
    assert host.delete(f"/api/tenants/{TENANT}/opt-outs/users/{requester}", headers=mine).status_code == 200


def test_no_contact_address_reaches_the_log(
    world: tuple[AppHost, GraphSimulator], tokens: tuple[JwksServer, TokenFactory]
) -> None:
    """Every way a client can name a contact, including the refused ones; then the host's whole log (requests,
    refusals, ingestion, purges) is searched for every contact address of the tenant."""
    host, sim = world
    _, factory = tokens
    known = sim.tenant.contacts[0].address
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@customer.example"
    headers = reader(factory)
    for insight in ("relationships", "who-knows-whom"):
        for contact in (known, unknown, "not an address <x@y.z>"):
            host.get(f"/api/tenants/{TENANT}/{insight}", params={"contact": contact}, headers=headers)
            host.post(f"/api/tenants/{TENANT}/{insight}/lookup", json={"contact": contact}, headers=headers)
        host.get(f"/api/tenants/{TENANT}/{insight}", params={"contact": known})  # no token: 401
    other_tenant = str(uuid.uuid4())
    host.get(f"/api/tenants/{other_tenant}/relationships", params={"contact": known}, headers=headers)  # 403
    host.post(
        f"/api/tenants/{TENANT}/who-knows-whom/introductions",
        json={"contact": unknown, "colleagueUserId": str(uuid.uuid4())}, headers=headers,
    )  # fmt: skip
    log = host.log_text().lower()
    assert "relationships" in log  # the refusals were logged (by route name)
    addresses = {c.address.lower() for c in sim.tenant.contacts} | {unknown}
    written = {a for a in addresses if a in log or urllib.parse.quote(a, safe="").lower() in log}
    assert sorted(written) == []
    assert "customer.example" not in log


def test_no_answer_about_people_may_be_kept_by_a_browser_or_a_proxy(
    world: tuple[AppHost, GraphSimulator], tokens: tuple[JwksServer, TokenFactory]
) -> None:
    """A kept copy would go on showing a person after they opted out. Tried: both insights read by GET and by
    lookup, the account view, the opt-out list, the consent, the purges and the audit log."""
    host, sim = world
    _, factory = tokens
    contact = sim.tenant.contacts[0].address
    insights, manage = reader(factory), manager(factory)
    answers = [
        host.get(f"/api/tenants/{TENANT}/{insight}", params={"contact": contact}, headers=insights)
        for insight in ("relationships", "who-knows-whom")
    ]
    answers += [
        host.post(f"/api/tenants/{TENANT}/{insight}/lookup", json={"contact": contact}, headers=insights)
        for insight in ("relationships", "who-knows-whom")
    ]
    domain = contact.rsplit("@", 1)[1]
    answers.append(host.get(f"/api/tenants/{TENANT}/accounts/{domain}/relationships", headers=insights))
    answers += [
        host.get(f"/api/tenants/{TENANT}/{what}", headers=manage)
        for what in ("opt-outs", "consent", "purges", "audit")
    ]
    assert [a.status_code for a in answers] == [200] * len(answers)
    assert [a.headers.get("Cache-Control") for a in answers] == ["no-store"] * len(answers)
