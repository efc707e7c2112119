"""On Azurite: an admin's UPN is never stored, and the UPN an earlier version stored in the consent rows is
never read back and is removed by a purge of the admin (or of their tenant), the rows staying otherwise."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.data.tables import UpdateMode

from functions.adapters.consent_store import TABLE as CONSENTS
from functions.adapters.consent_store import TableConsentStore
from functions.adapters.receipt_store import TABLE as RECEIPTS
from functions.adapters.storage import StorageClients
from functions.adapters.table_rows import get_json, put_json, safe_key
from functions.domain.consent import TenantConsent, grant, revoke
from functions.domain.events import Provenance, parse_event
from functions.domain.scope import Scope
from functions.entrypoints.consent_views import consent_view
from functions.entrypoints.evidence_views import evidence_view
from tests.support import admin_center as ac
from tests.support.purge_rig import PurgeRig

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def admin() -> dict[str, str]:
    """An admin as the admin center names them, with a UPN no other test uses."""
    return {"id": str(uuid.uuid4()), "upn": f"admin-{uuid.uuid4().hex[:12]}@contoso.example"}


@pytest.fixture
def rig(storage_clients: StorageClients) -> PurgeRig:
    return PurgeRig(storage_clients, T0)


def stored_text(storage: StorageClients, tenant_id: str, webhook_ids: Sequence[str]) -> str:
    """Every row of every table in the tenant's partitions, and the receipts of the given webhook ids."""
    rows: list[Any] = []
    for table in storage.table_service.list_tables():
        client = storage.table(table.name)
        for partition in {tenant_id, tenant_id.lower()}:
            rows += client.query_entities("PartitionKey eq @pk", parameters={"pk": partition})
    for webhook_id in webhook_ids:
        rows += storage.table(RECEIPTS).query_entities(
            "PartitionKey eq @pk", parameters={"pk": safe_key(webhook_id)}
        )
    return json.dumps([dict(row) for row in rows], default=str)


def deliver(rig: PurgeRig, document: dict[str, Any], at: datetime) -> str:
    webhook_id = f"wh-{uuid.uuid4()}"
    body = json.dumps(document).encode()
    rig.container.webhook_service.deliver(webhook_id, body, parse_event(document, at), at)
    return webhook_id


def by(actor: dict[str, str], at: datetime) -> Provenance:
    return Provenance(actor["id"], f"evt-{uuid.uuid4()}", at, "webhook", at)


def save_granted_and_revoked(
    storage: StorageClients, tenant_id: str, granter: dict[str, str], revoker: dict[str, str]
) -> None:
    store = TableConsentStore(storage)
    granted = grant(TenantConsent(tenant_id), by(granter, T0))
    store.save(granted.consent, None, granted.changes)
    revoked = revoke(granted.consent, by(revoker, T0 + MINUTE), str(uuid.uuid4()))
    store.save(revoked.consent, store.load(tenant_id).etag, revoked.changes)


def as_an_earlier_version_wrote(storage: StorageClients, tenant_id: str, *admins: dict[str, str]) -> int:
    """Add `actorUpn` beside each provenance's `actorId`, the way the version before this one stored it; how
    many rows now carry one."""
    upns = {a["id"]: a["upn"] for a in admins}
    table, planted = storage.table(CONSENTS), 0
    for row in list(table.query_entities("PartitionKey eq @pk", parameters={"pk": tenant_id})):
        entity, touched = dict(row), False
        for name in ("granted", "revoked", "imported", "provenance"):
            value = get_json(row, name) if name in row else None
            if isinstance(value, dict) and value.get("actorId") in upns:
                put_json(entity, name, {**value, "actorUpn": upns[value["actorId"]]})
                touched = True
        if touched:
            table.update_entity(entity, mode=UpdateMode.REPLACE)
            planted += 1
    return planted


def consent_rows(storage: StorageClients, tenant_id: str) -> str:
    rows = storage.table(CONSENTS).query_entities("PartitionKey eq @pk", parameters={"pk": tenant_id})
    return json.dumps([dict(row) for row in rows], default=str)


def test_a_grant_the_admins_own_opt_out_and_a_withdrawal_store_their_upn_nowhere(
    rig: PurgeRig, storage_clients: StorageClients, tenant_id: str
) -> None:
    """Tried: all three by webhook, as the admin center sends them (actor with id and upn)."""
    who = admin()
    webhooks = [
        deliver(rig, ac.cloud_event("consent.granted", {"tenantId": tenant_id, "actor": who}, at=T0), T0),
        deliver(rig, ac.user_changed(tenant_id, who["id"], T0 + MINUTE), T0 + MINUTE),
        deliver(
            rig,
            ac.cloud_event("consent.revoked", {"tenantId": tenant_id, "actor": who}, at=T0 + 2 * MINUTE),
            T0 + 2 * MINUTE,
        ),
    ]
    stored = stored_text(storage_clients, tenant_id, webhooks)
    assert who["id"] in stored  # who did it is kept, by object ID
    assert who["upn"] not in stored


def test_a_upn_an_earlier_version_stored_is_read_by_nothing(
    rig: PurgeRig, storage_clients: StorageClients, tenant_id: str
) -> None:
    who = admin()
    save_granted_and_revoked(storage_clients, tenant_id, who, who)
    store = TableConsentStore(storage_clients)
    before = (store.load(tenant_id).consent, store.history(tenant_id))
    assert as_an_earlier_version_wrote(storage_clients, tenant_id, who) == 3
    assert (store.load(tenant_id).consent, store.history(tenant_id)) == before
    consent = store.load(tenant_id).consent
    shown = [
        consent_view(consent, rig.container.optout_store.load_groups(tenant_id).groups, T0),
        evidence_view(rig.container.evidence_service.export(tenant_id, None, "json", T0)),
    ]
    assert who["upn"] not in json.dumps(shown)


def test_a_tenant_purge_removes_every_upn_an_earlier_version_stored_and_keeps_the_history(
    rig: PurgeRig, storage_clients: StorageClients, tenant_id: str
) -> None:
    granter, revoker = admin(), admin()
    save_granted_and_revoked(storage_clients, tenant_id, granter, revoker)
    store = TableConsentStore(storage_clients)
    before = (store.load(tenant_id).consent, store.history(tenant_id))
    planted = as_an_earlier_version_wrote(storage_clients, tenant_id, granter, revoker)
    assert rig.traces(Scope("tenant", tenant_id))["consents"] == planted == 3
    record = rig.to_completion(rig.request(Scope("tenant", tenant_id)))
    assert (record.status, record.counts["consents"], record.verification["consents"]) == ("completed", 3, 0)
    rows = consent_rows(storage_clients, tenant_id)
    assert (granter["upn"] in rows, revoker["upn"] in rows, "actorUpn" in rows) == (False, False, False)
    assert (store.load(tenant_id).consent, store.history(tenant_id)) == before


def test_a_user_purge_of_an_admin_removes_their_upn_and_leaves_another_admins(
    rig: PurgeRig, storage_clients: StorageClients, tenant_id: str
) -> None:
    granter, revoker = admin(), admin()
    save_granted_and_revoked(storage_clients, tenant_id, granter, revoker)
    as_an_earlier_version_wrote(storage_clients, tenant_id, granter, revoker)
    record = rig.to_completion(rig.request(Scope("user", tenant_id, user_id=granter["id"]), "user-opt-out"))
    # `current` (granted by one, revoked by the other) and the grant's history row
    assert (record.status, record.counts["consents"], record.verification["consents"]) == ("completed", 2, 0)
    rows = consent_rows(storage_clients, tenant_id)
    assert (granter["upn"] in rows, revoker["upn"] in rows) == (False, True)
    assert rig.traces(Scope("user", tenant_id, user_id=revoker["id"]))["consents"] == 2


def test_a_feature_purge_leaves_the_consent_rows_alone(
    rig: PurgeRig, storage_clients: StorageClients, tenant_id: str
) -> None:
    who = admin()
    save_granted_and_revoked(storage_clients, tenant_id, who, who)
    as_an_earlier_version_wrote(storage_clients, tenant_id, who)
    scope = Scope("feature", tenant_id, feature="who_knows_whom")
    record = rig.to_completion(rig.request(scope, "legacy-expired"))
    assert (record.status, record.counts["consents"]) == ("completed", 0)
    assert who["upn"] in consent_rows(storage_clients, tenant_id)
