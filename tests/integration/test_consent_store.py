"""The consent store on Azurite: round trips, the change history, and ETag-guarded saves."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from functions.adapters.consent_store import TableConsentStore
from functions.adapters.storage import StorageClients
from functions.domain.consent import TenantConsent, grant, import_legacy, revoke
from functions.domain.errors import ConcurrencyConflict
from functions.domain.events import CHANGE_SOURCES, ChangeSource, Provenance

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 27, 9, 0, 0, 123456, tzinfo=UTC)
GROUP = str(uuid.uuid4())


def change(at: datetime) -> Provenance:
    return Provenance("admin-oid", f"evt-{uuid.uuid4()}", at, "webhook", at)


@pytest.fixture
def store(storage_clients: StorageClients) -> TableConsentStore:
    return TableConsentStore(storage_clients)


def test_a_tenant_never_saved_loads_as_no_consent_without_an_etag(
    store: TableConsentStore, tenant_id: str
) -> None:
    stored = store.load(tenant_id)
    assert (stored.consent, stored.etag) == (TenantConsent(tenant_id), None)


def test_a_saved_consent_with_legacy_records_reads_back_exactly(
    store: TableConsentStore, tenant_id: str
) -> None:
    consent = import_legacy(
        TenantConsent(tenant_id), "who_knows_whom", granted_at=T0 - timedelta(days=400),
        expires_at=T0 + timedelta(days=10), opted_out_group_ids=frozenset({GROUP}), provenance=change(T0),
    )  # fmt: skip
    store.save(consent.consent, None, consent.changes)
    granted = grant(store.load(tenant_id).consent, change(T0 + timedelta(minutes=1)))
    store.save(granted.consent, store.load(tenant_id).etag, granted.changes)
    assert store.load(tenant_id).consent == granted.consent


def test_the_history_lists_every_change_newest_first(store: TableConsentStore, tenant_id: str) -> None:
    granted = grant(TenantConsent(tenant_id), change(T0))
    store.save(granted.consent, None, granted.changes)
    revoked = revoke(granted.consent, change(T0 + timedelta(hours=1)), str(uuid.uuid4()))
    store.save(revoked.consent, store.load(tenant_id).etag, revoked.changes)
    assert [c.kind for c in store.history(tenant_id)] == ["revoked", "granted"]


def test_a_save_based_on_an_old_read_loses_and_writes_nothing(
    store: TableConsentStore, tenant_id: str
) -> None:
    granted = grant(TenantConsent(tenant_id), change(T0))
    store.save(granted.consent, None, granted.changes)
    old = store.load(tenant_id)
    revoked = revoke(old.consent, change(T0 + timedelta(hours=1)), str(uuid.uuid4()))
    store.save(revoked.consent, old.etag, revoked.changes)
    late = revoke(old.consent, change(T0 + timedelta(hours=2)), str(uuid.uuid4()))
    with pytest.raises(ConcurrencyConflict):
        store.save(late.consent, old.etag, late.changes)
    assert len(store.history(tenant_id)) == 2  # the losing transaction appended no history either


def test_two_first_saves_of_one_tenant_cannot_both_win(store: TableConsentStore, tenant_id: str) -> None:
    granted = grant(TenantConsent(tenant_id), change(T0))
    store.save(granted.consent, None, granted.changes)
    with pytest.raises(ConcurrencyConflict):
        store.save(granted.consent, None, granted.changes)


@pytest.mark.parametrize("source", CHANGE_SOURCES)
def test_who_made_a_change_reads_back_for_every_source(
    store: TableConsentStore, tenant_id: str, source: ChangeSource
) -> None:
    provenance = replace(change(T0), source=source)
    granted = grant(TenantConsent(tenant_id), provenance)
    store.save(granted.consent, None, granted.changes)
    assert store.load(tenant_id).consent.granted == provenance
    assert [c.provenance.source for c in store.history(tenant_id)] == [source]
