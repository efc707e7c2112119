"""Legacy expiry on Azurite: the store's scan for due records at the exact instants, and the expiry step as
the container wires it (consent rows, purge ledger, audit log, change history)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from functions.adapters.storage import StorageClients
from functions.bootstrap import Container
from functions.domain.events import LegacyConsentImported, Provenance
from functions.domain.scope import Feature
from functions.settings import Settings

pytestmark = pytest.mark.integration

EXPIRY = datetime(2026, 12, 1, 12, 0, 0, 250000, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.fixture
def app(settings: Settings, storage_clients: StorageClients) -> Container:
    return Container(settings, storage=storage_clients)


def import_record(
    app: Container, tenant_id: str, feature: Feature = "relationship_analytics", expires_at: datetime = EXPIRY
) -> None:
    at = EXPIRY - timedelta(days=1)
    event = LegacyConsentImported(tenant_id, feature, EXPIRY - timedelta(days=700), expires_at, frozenset())
    app.consent_service.import_legacy(event, Provenance(None, f"evt-{uuid.uuid4()}", at, "webhook", at))


def test_the_scan_finds_a_record_from_its_exact_expiry_instant_on(app: Container, tenant_id: str) -> None:
    import_record(app, tenant_id)
    assert tenant_id not in app.consent_store.tenants_with_due_legacy(EXPIRY - SECOND)
    assert tenant_id in app.consent_store.tenants_with_due_legacy(EXPIRY)
    assert tenant_id in app.consent_store.tenants_with_due_legacy(EXPIRY + SECOND)


def test_the_scan_skips_records_already_expired_or_superseded(app: Container, tenant_id: str) -> None:
    other = str(uuid.uuid4())
    import_record(app, tenant_id)
    import_record(app, other)
    app.legacy_service.expire_tenant(tenant_id, EXPIRY)
    before = EXPIRY - SECOND
    app.consent_service.grant(other, frozenset(), Provenance("a", "g", before, "api", before))
    due = app.consent_store.tenants_with_due_legacy(EXPIRY + timedelta(days=1))
    assert {tenant_id, other}.isdisjoint(due)


def test_the_maintenance_timer_runs_the_legacy_expiry_step(app: Container) -> None:
    assert "legacy-expiry" in app.maintenance_service.step_names


def test_expiry_stores_the_status_the_purges_and_the_audit_entries(app: Container, tenant_id: str) -> None:
    import_record(app, tenant_id)
    app.legacy_service.expire_tenant(tenant_id, EXPIRY)
    consent = app.consent_store.load(tenant_id).consent
    purges = app.purge_store.list(tenant_id)
    kinds = [e.kind for e in app.audit_log.page(tenant_id, 20, None).entries]
    assert consent.legacy["relationship_analytics"].status == "expired"
    assert {(p.scope.kind, p.reason, p.status) for p in purges} == {
        ("feature", "legacy-expired", "queued"),
        ("tenant", "legacy-expired", "queued"),
    }
    assert {"legacy.expired", "tenant.disabled", "purge.requested"} <= set(kinds)
    assert app.consent_store.history(tenant_id)[0].kind == "legacy-expired"


def test_expiring_again_adds_no_purge_and_no_entry(app: Container, tenant_id: str) -> None:
    import_record(app, tenant_id)
    app.legacy_service.expire_tenant(tenant_id, EXPIRY)
    entries = app.audit_log.page(tenant_id, 50, None).entries
    again = app.legacy_service.expire_tenant(tenant_id, EXPIRY + timedelta(minutes=15))
    assert again.expired == ()
    assert len(app.purge_store.list(tenant_id)) == 2
    assert app.audit_log.page(tenant_id, 50, None).entries == entries
