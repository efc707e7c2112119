"""Who made a change is kept as the actor's object ID, never as their UPN: the admin-center webhook sends
both, and the UPN is checked against the contract and then dropped, so no admin's UPN outlives a purge of
them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.domain.events import parse_event
from functions.entrypoints.consent_views import SCHEMAS, consent_view
from functions.entrypoints.evidence_views import csv_tables, evidence_view
from tests.support import admin_center as ac
from tests.support.container import Services

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
ADMIN_ID, ADMIN_UPN = ac.ADMIN["id"], ac.ADMIN["upn"]


def deliver(services: Services, document: dict[str, Any], at: datetime) -> None:
    body = json.dumps(document).encode()
    services.webhooks.deliver(f"wh-{uuid.uuid4()}", body, parse_event(document, at), at)


def everything_shown(services: Services, tenant_id: str, at: datetime) -> str:
    """GET /consent and the evidence export (JSON and CSV), as the text a caller receives."""
    consent = services.consents.load(tenant_id).consent
    groups = services.optouts.load_groups(tenant_id).groups
    evidence = services.container.evidence_service.export(tenant_id, None, "json", at)
    return json.dumps([consent_view(consent, groups, at), evidence_view(evidence), csv_tables(evidence)])


def everything_stored(services: Services, tenant_id: str) -> str:
    return repr((services.consents.load(tenant_id), services.consents.history(tenant_id)))


def test_after_the_admins_own_opt_out_their_upn_is_neither_stored_nor_shown() -> None:
    """Tried: an admin grants by webhook, then opts themselves out (a user purge of their object ID)."""
    services, tenant_id = Services(), str(uuid.uuid4())
    deliver(services, ac.granted(tenant_id, T0), T0)
    deliver(services, ac.user_changed(tenant_id, ADMIN_ID, T0 + MINUTE), T0 + MINUTE)
    assert ADMIN_UPN not in everything_stored(services, tenant_id)
    assert ADMIN_UPN not in everything_shown(services, tenant_id, T0 + 2 * MINUTE)


def test_after_a_withdrawal_no_upn_of_the_admins_who_granted_and_revoked_is_stored_or_shown() -> None:
    """Tried: a grant and a revocation by webhook (the revocation purges every user of the tenant)."""
    services, tenant_id = Services(), str(uuid.uuid4())
    deliver(services, ac.granted(tenant_id, T0), T0)
    deliver(services, ac.revoked(tenant_id, T0 + MINUTE), T0 + MINUTE)
    assert ADMIN_UPN not in everything_stored(services, tenant_id)
    assert ADMIN_UPN not in everything_shown(services, tenant_id, T0 + 2 * MINUTE)


def test_the_consent_says_who_granted_and_revoked_by_object_id() -> None:
    services, tenant_id = Services(), str(uuid.uuid4())
    deliver(services, ac.granted(tenant_id, T0), T0)
    deliver(services, ac.revoked(tenant_id, T0 + MINUTE), T0 + MINUTE)
    view = consent_view(
        services.consents.load(tenant_id).consent, services.optouts.load_groups(tenant_id).groups, T0
    )
    assert (view["granted"]["actorId"], view["revoked"]["actorId"]) == (ADMIN_ID, ADMIN_ID)
    assert [c.provenance.actor_id for c in services.consents.history(tenant_id)] == [ADMIN_ID, ADMIN_ID]


def test_the_provenance_schema_offers_no_upn() -> None:
    assert set(SCHEMAS["Provenance"]["properties"]) == {
        "actorId", "eventId", "eventTime", "source", "recordedAt",
    }  # fmt: skip
