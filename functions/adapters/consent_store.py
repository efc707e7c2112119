"""The consent of each tenant in table `consents` (PartitionKey tenantId).

Rows: `current` (state, version, grant/revoke provenance, ordering key), `legacy-{feature}` (one legacy
record per feature) and `change-{invTicks}-{uuid}` (the append-only change history, newest first).
A save is one entity-group transaction guarded by the ETag of `current`, so the state, its legacy records and
the history rows it appends change together or not at all; a concurrent writer gets `ConcurrencyConflict`.

Who made a change is stored as an object ID only. A version before this one also stored the acting admin's
UPN (`actorUpn`) in each provenance; it is never read, and `ConsentActorScrub` is the purge's step that
removes it from the rows of a purged subject.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from functions.adapters.scoped_table import ScopedTableStore, ScopeFilter
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
from functions.domain.errors import ConcurrencyConflict
from functions.domain.scope import FEATURES, Feature, Scope
from functions.services.ports.consent import StoredConsent

TABLE = "consents"
_CURRENT = "current"
_LEGACY = "legacy-"
_CHANGE = "change-"
# The JSON properties that hold a provenance: `current`'s grant and revocation, a legacy record's import, a
# history row's change.
_PROVENANCES = ("granted", "revoked", "imported", "provenance")
_EARLIER_UPN = "actorUpn"
_SCRUB_ATTEMPTS = 5


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


class ConsentActorScrub(ScopedTableStore):
    """The purge's view of table `consents`: the UPNs a version before this one stored there.

    The consent and its history are kept on purpose (they keep a withdrawn tenant out, and "who, when, which
    event" of every change is never rewritten), and they name actors by object ID. An earlier version also
    wrote the acting admin's UPN (`actorUpn`) into each provenance; this version neither writes nor reads it.
    For a tenant scope every row of the tenant that still carries one, for a user scope every row where that
    user is the actor, is replaced by the same row without it: actor ID, event, times and kind stay, so the
    history means what it meant. `count_scope` counts the rows still carrying one, and is what the
    verification records under `consents`. A feature scope purges no person: nothing to do.
    """

    name = TABLE

    def scope_filter(self, scope: Scope) -> ScopeFilter | None:
        """The rows searched: the tenant's partition (a UPN hides inside JSON, which no filter reaches)."""
        if scope.kind == "feature":
            return None
        return "PartitionKey eq @pk", {"pk": scope.tenant_id}

    def count_scope(self, scope: Scope) -> int:
        return sum(1 for _ in self._carrying(scope))

    def delete_scope(self, scope: Scope) -> int:
        return sum(self._strip(row, scope) for row in self._carrying(scope))

    def _carrying(self, scope: Scope) -> Iterator[Entity]:
        query = self.scope_filter(scope)
        if query is None:
            return
        yield from (row for row in self._rows(*query) if _stripped(row, scope))

    def _strip(self, row: Entity, scope: Scope) -> int:
        """Replace `row` by itself without the scope's UPNs, unless it changed since read (then read again: a
        consent save or another scope's strip got there first). 1 if this call rewrote it."""
        for _ in range(_SCRUB_ATTEMPTS):
            values = _stripped(row, scope)
            if not values:
                return 0
            entity = {k: v for k, v in row.items() if not _is_part_of(k, values)}
            for name, value in values.items():
                put_json(entity, name, value)
            try:
                with conflicts_as_concurrency():
                    self._table.update_entity(entity, mode=UpdateMode.REPLACE, **guarded_update(etag_of(row)))
                return 1
            except ConcurrencyConflict:
                with translate_storage_errors():
                    try:
                        row = self._table.get_entity(row["PartitionKey"], row["RowKey"])
                    except ResourceNotFoundError:
                        return 0
        raise ConcurrencyConflict(f"{TABLE} row {row['RowKey']} kept changing while its UPNs were removed")


def _stripped(row: Mapping[str, Any], scope: Scope) -> dict[str, Any]:
    """The provenance properties of `row` that carry a UPN of `scope`, as they are without it."""
    out: dict[str, Any] = {}
    for name in _PROVENANCES:
        value = get_json(row, name) if name in row else None
        if isinstance(value, dict) and value.get(_EARLIER_UPN) and _is_of(value, scope):
            out[name] = {k: v for k, v in value.items() if k != _EARLIER_UPN}
    return out


def _is_of(provenance: Mapping[str, Any], scope: Scope) -> bool:
    if scope.kind == "tenant":
        return True
    actor = provenance.get("actorId")
    return isinstance(actor, str) and actor.lower() == str(scope.user_id).lower()


def _is_part_of(key: str, names: Mapping[str, Any]) -> bool:
    """Whether `key` is one of the (possibly split, see `put_json`) properties of a JSON value in `names`."""
    base = re.sub(r"_\d+$", "", key)
    return key in names or (base != key and base in names)
