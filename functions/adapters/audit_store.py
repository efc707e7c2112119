"""The audit log in table `audit`: PartitionKey tenantId, RowKey `{invTicks:019d}-{uuid}` so that a
partition scan returns entries newest first. Append-only: entries are only ever inserted.

Pages carry an opaque continuation token: the SDK's continuation (next PartitionKey/RowKey) and the tenant
it was issued for, as URL-safe base64 JSON. A token that does not decode, or was issued for another tenant,
is `ValidationFailed` (400).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from azure.data.tables import TableClient

from functions.adapters.storage import StorageClients, translate_storage_errors
from functions.adapters.table_rows import (
    Entity,
    decode_continuation,
    encode_continuation,
    get_json,
    insert,
    invalid_continuation,
    inverted_ticks,
    iso,
    put_json,
    required_iso,
)
from functions.domain.audit import AuditEntry, AuditPage

TABLE = "audit"
MAX_PAGE_SIZE = 200


class TableAuditLog:
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage

    @property
    def _table(self) -> TableClient:
        return self._storage.table(TABLE)

    def append(self, entry: AuditEntry) -> AuditEntry:
        stored = replace(entry, id=f"{inverted_ticks(_key_time(entry.at))}-{uuid.uuid4()}")
        entity = _entity(stored)
        with translate_storage_errors():
            insert(self._table, entity)
        return stored

    def page(self, tenant_id: str, limit: int, continuation: str | None) -> AuditPage:
        token = _decode(continuation, tenant_id) if continuation else None
        size = max(1, min(limit, MAX_PAGE_SIZE))
        with translate_storage_errors():
            # The SDK types the continuation as str; for tables it is the {PartitionKey, RowKey} dict.
            query: Any = self._table.query_entities(
                "PartitionKey eq @pk", parameters={"pk": tenant_id}, results_per_page=size
            )
            pages = query.by_page(continuation_token=token)
            rows = list(next(pages, []))
            next_token = pages.continuation_token
        return AuditPage(
            [_entry(row) for row in rows], _encode(next_token, tenant_id) if next_token else None
        )


_last_key_time: datetime | None = None
_key_lock = threading.Lock()


def _key_time(at: datetime) -> datetime:
    """`at`, nudged past the last key this process wrote: entries of one request share their time, and the
    log must still list them in the order they were appended (a consent change before the purge it caused)."""
    global _last_key_time  # noqa: PLW0603  (one ordering cursor per process, guarded by a lock)
    with _key_lock:
        if _last_key_time is not None and at <= _last_key_time:
            at = _last_key_time + timedelta(microseconds=1)
        _last_key_time = at
        return at


def _encode(token: Any, tenant_id: str) -> str:
    return encode_continuation(token, tenant_id)


def _decode(text: str, tenant_id: str) -> dict[str, str]:
    """The SDK's continuation inside a token we issued for this tenant's log; ValidationFailed otherwise."""
    token = decode_continuation(text, tenant_id)
    if (
        not isinstance(token, dict)
        or set(token) != {"PartitionKey", "RowKey"}
        or not all(isinstance(value, str) for value in token.values())
    ):
        raise invalid_continuation()
    return {"PartitionKey": token["PartitionKey"], "RowKey": token["RowKey"]}


def _entity(entry: AuditEntry) -> Entity:
    entity: Entity = {
        "PartitionKey": entry.tenant_id,
        "RowKey": entry.id,
        "at": iso(entry.at),
        "kind": entry.kind,
        "outcome": entry.outcome,
        "actorId": entry.actor_id or "",
        "eventId": entry.event_id or "",
        "webhookId": entry.webhook_id or "",
        "eventType": entry.event_type or "",
        "purgeId": entry.purge_id or "",
        "detail": entry.detail or "",
    }
    put_json(entity, "subjectIds", list(entry.subject_ids))
    put_json(entity, "counts", dict(entry.counts))
    return entity


def _entry(row: Entity) -> AuditEntry:
    return AuditEntry(
        tenant_id=row["PartitionKey"],
        at=required_iso(row["at"]),
        kind=row["kind"],
        outcome=row["outcome"],
        actor_id=row.get("actorId") or None,
        event_id=row.get("eventId") or None,
        webhook_id=row.get("webhookId") or None,
        event_type=row.get("eventType") or None,
        subject_ids=tuple(get_json(row, "subjectIds", [])),
        purge_id=row.get("purgeId") or None,
        counts=get_json(row, "counts", {}),
        detail=row.get("detail") or None,
        id=row["RowKey"],
    )
