"""The purge ledger in table `purges` (PartitionKey tenantId, RowKey purgeId).

`create` inserts a record unless one with its ID exists (then returns that one), so a re-delivered event
never starts a second purge. `load`/`save` are the ETag-guarded read and write the purge function uses to
record its steps, counts and status.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from functions.adapters.storage import StorageClients, translate_storage_errors
from functions.adapters.table_rows import (
    Entity,
    conflicts_as_concurrency,
    decode_continuation,
    encode_continuation,
    etag_of,
    get_json,
    guarded_update,
    insert,
    invalid_continuation,
    iso,
    parse_iso,
    put_json,
    required_iso,
)
from functions.domain.purge import (
    PURGE_REASONS,
    DeadlineFlag,
    GroupScope,
    PurgeRecord,
    PurgeStep,
    PurgeTarget,
)
from functions.domain.purge_subscriptions import GraphSubscriptions, PendingSubscription, SubscriptionsState
from functions.domain.scope import FEATURES, Scope
from functions.services.ports.purge import PurgePage, StoredPurge

TABLE = "purges"
_SUBSCRIPTION_STATES: frozenset[SubscriptionsState] = frozenset(("pending", "removed", "expired"))
_DEADLINE_FLAGS: frozenset[DeadlineFlag] = frozenset(
    ("live-deadline-near", "live-deadline-passed", "backup-deadline-near", "backup-deadline-passed")
)


class TablePurgeStore:
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage

    @property
    def _table(self) -> TableClient:
        return self._storage.table(TABLE)

    def create(self, record: PurgeRecord) -> tuple[PurgeRecord, bool]:
        with translate_storage_errors():
            try:
                insert(self._table, purge_entity(record))
            except ResourceExistsError:
                existing = self.get(record.tenant_id, record.id)
                if existing is None:  # deleted between the two calls: nothing sensible to do but retry
                    raise
                return existing, False
        return record, True

    def get(self, tenant_id: str, purge_id: str) -> PurgeRecord | None:
        stored = self.load(tenant_id, purge_id)
        return stored.record if stored else None

    def load(self, tenant_id: str, purge_id: str) -> StoredPurge | None:
        with translate_storage_errors():
            try:
                row = self._table.get_entity(tenant_id, purge_id)
            except ResourceNotFoundError:
                return None
        return StoredPurge(purge_from(row), etag_of(row))

    def save(self, record: PurgeRecord, etag: str) -> str | None:
        """Replace a record read with `load`; `ConcurrencyConflict` if it changed since. The new ETag."""
        with conflicts_as_concurrency():
            metadata = self._table.update_entity(
                purge_entity(record), mode=UpdateMode.REPLACE, **guarded_update(etag)
            )
        etag_after = metadata.get("etag") if metadata else None
        return str(etag_after) if etag_after else None

    def list(self, tenant_id: str) -> list[PurgeRecord]:
        with translate_storage_errors():
            rows = list(self._table.query_entities("PartitionKey eq @pk", parameters={"pk": tenant_id}))
        return sorted((purge_from(r) for r in rows), key=lambda r: (r.requested_at, r.id), reverse=True)

    def page(self, tenant_id: str, limit: int, continuation: str | None) -> PurgePage:
        """A page of the tenant's purges, newest request first. The continuation names the last record
        returned (its request time and ID), so records added meanwhile never shift a page."""
        after = _position(decode_continuation(continuation, tenant_id)) if continuation else None
        records = self.list(tenant_id)
        if after is not None:
            records = [r for r in records if (r.requested_at, r.id) < after]
        page = records[:limit]
        more = len(records) > limit
        last = page[-1] if page else None
        token = (
            encode_continuation({"requestedAt": iso(last.requested_at), "id": last.id}, tenant_id)
            if more and last is not None
            else None
        )
        return PurgePage(page, token)

    def unfinished_of(self, tenant_id: str) -> tuple[PurgeRecord, ...]:
        """The tenant's purges not `completed` yet (what ingestion and backups hold off for)."""
        query = "PartitionKey eq @pk and status ne @done"
        with translate_storage_errors():
            rows = list(self._table.query_entities(query, parameters={"pk": tenant_id, "done": "completed"}))
        return tuple(purge_from(r) for r in rows)

    def unfinished(self) -> tuple[PurgeRecord, ...]:
        """Every tenant's purges not `completed` yet (the maintenance timer's scan; the ledger is small)."""
        with translate_storage_errors():
            rows = list(self._table.query_entities("status ne @done", parameters={"done": "completed"}))
        return tuple(purge_from(r) for r in rows)


def _position(value: Any) -> tuple[datetime, str]:
    if not isinstance(value, dict) or set(value) != {"requestedAt", "id"}:
        raise invalid_continuation()
    try:
        return required_iso(value["requestedAt"]), str(value["id"])
    except (TypeError, ValueError):
        raise invalid_continuation() from None


def purge_entity(record: PurgeRecord) -> Entity:
    scope = record.scope
    entity: Entity = {
        "PartitionKey": record.tenant_id,
        "RowKey": record.id,
        "scopeKind": scope.kind,
        "userId": scope.user_id if isinstance(scope, Scope) and scope.user_id else "",
        "feature": scope.feature if isinstance(scope, Scope) and scope.feature else "",
        "reason": record.reason,
        "requestedAt": iso(record.requested_at),
        "liveDeadline": iso(record.live_deadline),
        "backupDeadline": iso(record.backup_deadline),
        "status": record.status,
        "requestedBy": record.requested_by or "",
        "eventId": record.event_id or "",
        "liveDeletedAt": iso(record.live_deleted_at) if record.live_deleted_at else "",
        "backupsDeletedAt": iso(record.backups_deleted_at) if record.backups_deleted_at else "",
        "verifiedAt": iso(record.verified_at) if record.verified_at else "",
    }
    put_json(entity, "groupIds", sorted(scope.group_ids) if isinstance(scope, GroupScope) else [])
    put_json(entity, "steps", [_step_json(s) for s in record.steps])
    put_json(entity, "counts", dict(record.counts))
    _put_progress(entity, record)
    return entity


def _step_json(step: PurgeStep) -> dict[str, Any]:
    value: dict[str, Any] = {"name": step.name, "at": iso(step.at), "counts": dict(step.counts)}
    if step.duration_ms is not None:
        value["durationMs"] = step.duration_ms
    if step.error is not None:
        value["error"] = step.error
    return value


# --- the purge function's bookkeeping (functions/services/purge.py); absent on records it never touched ---


def _put_progress(entity: Entity, record: PurgeRecord) -> None:
    for name, value in (
        ("startedAt", record.started_at),
        ("fenceAt", record.fence_at),
        ("completedAt", record.completed_at),
        ("leaseUntil", record.lease_until),
    ):
        entity[name] = iso(value) if value else ""
    entity["attempts"] = record.attempts
    entity["leaseOwner"] = record.lease_owner or ""
    entity["lastError"] = (record.last_error or "")[:1000]
    entity["deadlineFlags"] = ",".join(record.deadline_flags)
    put_json(entity, "members", None if record.members is None else list(record.members))
    put_json(entity, "verification", None if record.verification is None else dict(record.verification))
    graph = record.graph_subscriptions
    put_json(entity, "graphSubscriptions", None if graph is None else _graph_json(graph))


def _progress_from(row: Any) -> dict[str, Any]:
    members = get_json(row, "members", None)
    verification = get_json(row, "verification", None)
    flags = [f for f in str(row.get("deadlineFlags") or "").split(",") if f in _DEADLINE_FLAGS]
    return {
        "started_at": parse_iso(row.get("startedAt")),
        "fence_at": parse_iso(row.get("fenceAt")),
        "completed_at": parse_iso(row.get("completedAt")),
        "lease_until": parse_iso(row.get("leaseUntil")),
        "attempts": int(row.get("attempts") or 0),
        "lease_owner": row.get("leaseOwner") or None,
        "last_error": row.get("lastError") or None,
        "deadline_flags": tuple(flags),
        "members": None if members is None else tuple(members),
        "verification": verification,
        "graph_subscriptions": _graph_from(get_json(row, "graphSubscriptions", None)),
    }


def _graph_json(graph: GraphSubscriptions) -> dict[str, Any]:
    return {
        "state": graph.state,
        "deleted": graph.deleted,
        "pending": [{"id": p.subscription_id, "expiresAt": iso(p.expires_at)} for p in graph.pending],
        "unseenUntil": iso(graph.unseen_until) if graph.unseen_until else None,
        "attempts": graph.attempts,
        "lastAttemptAt": iso(graph.last_attempt_at) if graph.last_attempt_at else None,
        "lastError": graph.last_error,
    }


def _graph_from(value: Any) -> GraphSubscriptions | None:
    if value is None:
        return None
    state = value["state"]
    if state not in _SUBSCRIPTION_STATES:
        raise ValueError(f"unknown state of Graph subscriptions {state!r}")
    return GraphSubscriptions(
        state=state,
        deleted=int(value.get("deleted", 0)),
        pending=tuple(
            PendingSubscription(str(p["id"]), required_iso(p["expiresAt"])) for p in value.get("pending", [])
        ),
        unseen_until=parse_iso(value.get("unseenUntil")),
        attempts=int(value.get("attempts", 0)),
        last_attempt_at=parse_iso(value.get("lastAttemptAt")),
        last_error=value.get("lastError"),
    )


def purge_from(row: Any) -> PurgeRecord:
    tenant_id, kind = row["PartitionKey"], row["scopeKind"]
    scope: PurgeTarget
    if kind == "groups":
        scope = GroupScope(tenant_id, frozenset(get_json(row, "groupIds", [])))
    elif kind == "user":
        scope = Scope("user", tenant_id, user_id=row["userId"])
    elif kind == "feature" and row.get("feature") in FEATURES:
        scope = Scope("feature", tenant_id, feature=row["feature"])
    else:
        scope = Scope("tenant", tenant_id)
    reason = row["reason"]
    if reason not in PURGE_REASONS:
        raise ValueError(f"purge {row['RowKey']} has an unknown reason {reason!r}")
    return PurgeRecord(
        id=row["RowKey"],
        scope=scope,
        reason=reason,
        requested_at=required_iso(row["requestedAt"]),
        live_deadline=required_iso(row["liveDeadline"]),
        backup_deadline=required_iso(row["backupDeadline"]),
        status=row.get("status", "queued"),
        requested_by=row.get("requestedBy") or None,
        event_id=row.get("eventId") or None,
        steps=tuple(
            PurgeStep(
                s["name"], required_iso(s["at"]), s.get("counts", {}), s.get("durationMs"), s.get("error")
            )
            for s in get_json(row, "steps", [])
        ),
        counts=get_json(row, "counts", {}),
        live_deleted_at=parse_iso(row.get("liveDeletedAt")),
        backups_deleted_at=parse_iso(row.get("backupsDeletedAt")),
        verified_at=parse_iso(row.get("verifiedAt")),
        **_progress_from(row),
    )
