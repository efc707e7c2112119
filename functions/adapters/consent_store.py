"""The consent of each tenant in table `consents` (PartitionKey tenantId).

Rows: `current` (state, version, grant/revoke provenance, ordering key), `legacy-{feature}` (one legacy
record per feature) and `change-{invTicks}-{uuid}` (the append-only change history, newest first).
A save is one entity-group transaction guarded by the ETag of `current`, so the state, its legacy records and
the history rows it appends change together or not at all; a concurrent writer gets `ConcurrencyConflict`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from azure.data.tables import TableClient, UpdateMode

from functions.adapters.storage import StorageClients, translate_storage_errors
from functions.adapters.table_rows import (
    Entity,
    conflicts_as_concurrency,
    etag_of,
    get_json,
    guarded_update,
    inverted_ticks,
    iso,
    parse_iso,
    provenance_from_json,
    provenance_to_json,
    put_json,
    required_iso,
)
from functions.domain.consent import ConsentChange, LegacyConsent, TenantConsent
from functions.domain.scope import FEATURES, Feature
from functions.services.ports.consent import StoredConsent

TABLE = "consents"
_CURRENT = "current"
_LEGACY = "legacy-"
_CHANGE = "change-"


class TableConsentStore:
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage

    @property
    def _table(self) -> TableClient:
        return self._storage.table(TABLE)

    def load(self, tenant_id: str) -> StoredConsent:
        # `current` and `legacy-*` sort after every `change-*` row: one range scan reads the state.
        query = "PartitionKey eq @pk and RowKey ge @current"
        parameters = {"pk": tenant_id, "current": _CURRENT}
        with translate_storage_errors():
            rows = list(self._table.query_entities(query, parameters=parameters))
        current = next((row for row in rows if row["RowKey"] == _CURRENT), None)
        legacy = {
            record.feature: record
            for record in (_legacy_from(row) for row in rows if row["RowKey"].startswith(_LEGACY))
            if record is not None
        }
        if current is None:
            return StoredConsent(TenantConsent(tenant_id, legacy=legacy), None)
        return StoredConsent(_consent_from(tenant_id, current, legacy), etag_of(current))

    def save(self, consent: TenantConsent, etag: str | None, changes: Sequence[ConsentChange]) -> None:
        current = _consent_entity(consent)
        operations: list[Any] = (
            [("create", current)]
            if etag is None
            else [("update", current, {"mode": UpdateMode.REPLACE, **guarded_update(etag)})]
        )
        # At most one row per feature: rewriting them all keeps the save simple and the rows consistent.
        operations += [
            ("upsert", _legacy_entity(consent.tenant_id, record), {"mode": UpdateMode.REPLACE})
            for record in consent.legacy.values()
        ]
        operations += [("create", _change_entity(consent.tenant_id, change)) for change in changes]
        with conflicts_as_concurrency():
            self._table.submit_transaction(operations)

    def history(self, tenant_id: str) -> list[ConsentChange]:
        query = "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end"
        with translate_storage_errors():
            rows = list(
                self._table.query_entities(
                    query, parameters={"pk": tenant_id, "start": _CHANGE, "end": "change."}
                )
            )
        return [_change_from(row) for row in rows]

    def tenants_with_due_legacy(self, now: datetime) -> list[str]:
        """Tenants with a legacy record still `active` whose expiry has passed (the legacy-expiry timer).

        One filtered scan across partitions: stored times are fixed-width UTC ISO strings, so they compare
        as text; the rules decide again per tenant after `load`.
        """
        start, end = _LEGACY, _LEGACY[:-1] + chr(ord(_LEGACY[-1]) + 1)
        query = "RowKey ge @start and RowKey lt @end and status eq @active and expiresAt le @now"
        parameters = {"start": start, "end": end, "active": "active", "now": iso(now)}
        with translate_storage_errors():
            rows = self._table.query_entities(query, parameters=parameters, select=["PartitionKey"])
            return sorted({str(row["PartitionKey"]) for row in rows})


def _consent_entity(consent: TenantConsent) -> Entity:
    entity: Entity = {
        "PartitionKey": consent.tenant_id,
        "RowKey": _CURRENT,
        "state": consent.state,
        "version": consent.version,
        "lastEventTime": iso(consent.last_event_time) if consent.last_event_time else "",
        "lastEventId": consent.last_event_id or "",
        "revokePurgeId": consent.revoke_purge_id or "",
    }
    put_json(entity, "granted", provenance_to_json(consent.granted) if consent.granted else None)
    put_json(entity, "revoked", provenance_to_json(consent.revoked) if consent.revoked else None)
    return entity


def _consent_from(tenant_id: str, row: Entity, legacy: dict[Feature, LegacyConsent]) -> TenantConsent:
    granted, revoked = get_json(row, "granted"), get_json(row, "revoked")
    state = row.get("state")
    return TenantConsent(
        tenant_id=tenant_id,
        state=state if state in ("granted", "revoked") else "none",
        version=int(row.get("version", 0)),
        granted=provenance_from_json(granted) if granted else None,
        revoked=provenance_from_json(revoked) if revoked else None,
        last_event_time=parse_iso(row.get("lastEventTime")),
        last_event_id=row.get("lastEventId") or None,
        revoke_purge_id=row.get("revokePurgeId") or None,
        legacy=legacy,
    )


def _legacy_entity(tenant_id: str, record: LegacyConsent) -> Entity:
    entity: Entity = {
        "PartitionKey": tenant_id,
        "RowKey": _LEGACY + record.feature,
        "feature": record.feature,
        "grantedAt": iso(record.granted_at),
        "expiresAt": iso(record.expires_at),
        "status": record.status,
        "statusChangedAt": iso(record.status_changed_at) if record.status_changed_at else "",
    }
    put_json(entity, "optedOutGroupIds", sorted(record.opted_out_group_ids))
    put_json(entity, "migratedGroupIds", sorted(record.migrated_group_ids))
    put_json(entity, "imported", provenance_to_json(record.imported))
    return entity


def _legacy_from(row: Entity) -> LegacyConsent | None:
    feature = row.get("feature")
    status = row.get("status")
    if feature not in FEATURES or status not in ("active", "superseded", "expired"):
        return None  # a row this version does not understand is ignored rather than misread
    return LegacyConsent(
        feature=feature,
        granted_at=required_iso(row["grantedAt"]),
        expires_at=required_iso(row["expiresAt"]),
        opted_out_group_ids=frozenset(get_json(row, "optedOutGroupIds", [])),
        status=status,
        imported=provenance_from_json(get_json(row, "imported")),
        migrated_group_ids=frozenset(get_json(row, "migratedGroupIds", [])),
        status_changed_at=parse_iso(row.get("statusChangedAt")),
    )


def _change_entity(tenant_id: str, change: ConsentChange) -> Entity:
    entity: Entity = {
        "PartitionKey": tenant_id,
        "RowKey": f"{_CHANGE}{inverted_ticks(change.provenance.recorded_at)}-{uuid.uuid4()}",
        "kind": change.kind,
        "feature": change.feature or "",
    }
    put_json(entity, "groupIds", sorted(change.group_ids))
    put_json(entity, "provenance", provenance_to_json(change.provenance))
    return entity


def _change_from(row: Entity) -> ConsentChange:
    feature = row.get("feature")
    return ConsentChange(
        kind=row["kind"],
        provenance=provenance_from_json(get_json(row, "provenance")),
        feature=feature if feature in FEATURES else None,
        group_ids=frozenset(get_json(row, "groupIds", [])),
    )
